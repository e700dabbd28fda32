import { Link } from "react-router";
import { formatPrice } from "./money";

export interface CardProduct {
  id: number;
  name: string;
  price: number;
  stock: number;
  rating?: { average: number; count: number } | null;
  images?: { url: string; alt_text: string; primary: boolean }[];
}

export function Stars({ average, count }: { average: number; count: number }) {
  if (count === 0) return <span className="muted">No reviews yet</span>;
  return (
    <span>
      {average.toFixed(1)} out of 5 ({count} {count === 1 ? "review" : "reviews"})
    </span>
  );
}

/** The primary image (sized, with its alt text), or a letter tile when there is none. */
export function ProductImage({ product, large = false }: { product: CardProduct; large?: boolean }) {
  const image = product.images?.find((i) => i.primary) ?? product.images?.[0];
  if (image && /^(\/|https?:\/\/)/.test(image.url)) {
    return <img className={large ? "product-image large" : "product-image"} src={image.url} alt={image.alt_text || product.name} width={large ? 360 : 200} height={large ? 270 : 150} loading="lazy" />;
  }
  return (
    <div className={large ? "product-image large" : "product-image"} aria-hidden="true">
      {product.name.slice(0, 1).toUpperCase()}
    </div>
  );
}

export function ProductCard({ product }: { product: CardProduct }) {
  return (
    <article className="product-card" aria-labelledby={`product-${product.id}`}>
      <ProductImage product={product} />
      <h3 id={`product-${product.id}`}>
        <Link to={`/products/${product.id}`}>{product.name}</Link>
      </h3>
      <p className="price">{formatPrice(product.price)}</p>
      {product.stock <= 0 && <p className="stock out">Out of stock</p>}
      {product.rating && (
        <p className="rating">
          <Stars average={product.rating.average} count={product.rating.count} />
        </p>
      )}
    </article>
  );
}
