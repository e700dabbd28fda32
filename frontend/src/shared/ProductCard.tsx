import { Link } from "react-router";
import { formatPrice } from "./money";

export interface CardProduct {
  id: number;
  name: string;
  price: number;
  stock: number;
  rating?: { average: number; count: number } | null;
}

export function Stars({ average, count }: { average: number; count: number }) {
  if (count === 0) return <span className="muted">No reviews yet</span>;
  return (
    <span>
      {average.toFixed(1)} out of 5 ({count} {count === 1 ? "review" : "reviews"})
    </span>
  );
}

export function ProductCard({ product }: { product: CardProduct }) {
  return (
    <article className="product-card" aria-labelledby={`product-${product.id}`}>
      <div className="product-image" aria-hidden="true">
        {product.name.slice(0, 1).toUpperCase()}
      </div>
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
