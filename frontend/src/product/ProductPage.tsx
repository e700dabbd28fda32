import { useState } from "react";
import { Link, useParams } from "react-router";
import { toApiError } from "../api/errors";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";
import { Stars } from "../shared/ProductCard";
import { useAddToCart, useProduct, type Product } from "../shared/queries";
import { useTitle } from "../shared/useTitle";
import { AlsoViewed, RecentlyViewed } from "./RelatedPanels";
import { ReviewsPanel } from "./ReviewsPanel";

function AddToCart({ product }: { product: Product }) {
  const add = useAddToCart();
  const [quantity, setQuantity] = useState(1);
  const outOfStock = product.stock <= 0;

  function submit(event: React.FormEvent) {
    event.preventDefault();
    // Signed out, the line goes to the guest cart, which joins the account's at sign-in.
    add.mutate({ productId: product.id, quantity });
  }

  return (
    <form onSubmit={submit} className="add-to-cart">
      <div className="field inline">
        <label htmlFor="quantity">Quantity</label>
        <input
          id="quantity"
          type="number"
          min={1}
          max={Math.max(1, product.stock)}
          value={quantity}
          disabled={outOfStock}
          onChange={(e) => setQuantity(Math.max(1, Math.floor(Number(e.target.value) || 1)))}
        />
      </div>
      <button type="submit" disabled={outOfStock || add.isPending}>
        {add.isPending ? "Adding…" : "Add to cart"}
      </button>
      <div aria-live="polite">
        {add.isSuccess && (
          <p className="notice success">
            Added to your cart. <Link to="/cart">View cart</Link>
          </p>
        )}
      </div>
      {add.isError && (
        <p role="alert" className="notice error">
          {toApiError(add.error).userMessage}
        </p>
      )}
    </form>
  );
}

export default function ProductPage() {
  const id = Number(useParams().id);
  const product = useProduct(Number.isInteger(id) ? id : 0);
  useTitle(product.data?.name ?? "Product");
  if (!Number.isInteger(id) || id <= 0 || (product.isError && toApiError(product.error).kind === "not-found")) {
    return (
      <>
        <h1>Product not found</h1>
        <p>
          This product does not exist or was removed. <Link to="/products">Browse the catalog</Link>.
        </p>
      </>
    );
  }
  return (
    <>
      <h1>{product.data?.name ?? "Product"}</h1>
      <Panel title="Details" hideTitle query={product}>
        {(p) => (
          <div className="product-detail">
            <div className="product-image large" aria-hidden="true">
              {p.name.slice(0, 1).toUpperCase()}
            </div>
            <div>
              <p className="price large">{formatPrice(p.price)}</p>
              <p className={p.stock > 0 ? "stock in" : "stock out"}>{p.stock > 0 ? `In stock (${p.stock} available)` : "Out of stock"}</p>
              <p className="rating">
                {p.rating ? <Stars average={p.rating.average} count={p.rating.count} /> : <span className="muted">Rating unavailable right now</span>}
              </p>
              <p className="description">{p.description}</p>
              <AddToCart product={p} />
            </div>
          </div>
        )}
      </Panel>
      <ReviewsPanel productId={id} />
      <AlsoViewed productId={id} />
      <RecentlyViewed productId={id} />
    </>
  );
}
