import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { toApiError } from "../api/errors";
import { cartTotals, lineTotalCents, type CartLine } from "../shared/cartMath";
import { formatMoney } from "../shared/money";
import { Panel } from "../shared/Panel";
import { useCart, useProducts, useSetQuantity, type Product } from "../shared/queries";
import { useSession } from "../shared/session";
import { useTitle } from "../shared/useTitle";

function LineRow({ line, product }: { line: CartLine; product: Product | undefined }) {
  const setQuantity = useSetQuantity();
  const [quantity, setDraft] = useState(String(line.quantity));
  const name = product?.name ?? `Product ${line.productId}`;

  function submit(event: FormEvent) {
    event.preventDefault();
    const wanted = Math.floor(Number(quantity));
    if (!Number.isFinite(wanted) || wanted < 0) return;
    setQuantity.mutate({ line, quantity: wanted });
  }

  return (
    <tr>
      <th scope="row">
        <Link to={`/products/${line.productId}`}>{name}</Link>
      </th>
      <td>{product ? formatMoney(lineTotalCents(product.price, 1)) : "—"}</td>
      <td>
        <form onSubmit={submit} className="qty-form">
          <label htmlFor={`qty-${line.itemId}`} className="visually-hidden">
            Quantity of {name}
          </label>
          <input id={`qty-${line.itemId}`} type="number" min={0} value={quantity} onChange={(e) => setDraft(e.target.value)} />
          <button type="submit" disabled={setQuantity.isPending}>
            Update<span className="visually-hidden"> {name}</span>
          </button>
        </form>
        {setQuantity.isError && (
          <p role="alert" className="field-error">
            {toApiError(setQuantity.error).userMessage}
          </p>
        )}
      </td>
      <td>{product ? formatMoney(lineTotalCents(product.price, line.quantity)) : "—"}</td>
      <td>
        <button type="button" onClick={() => setQuantity.mutate({ line, quantity: 0 })} disabled={setQuantity.isPending}>
          Remove<span className="visually-hidden"> {name}</span>
        </button>
      </td>
    </tr>
  );
}

export default function CartPage() {
  useTitle("Cart");
  const cart = useCart();
  const lines = cart.data ?? [];
  const products = useProducts(lines.map((line) => line.productId));
  const byId = new Map(products.map((result, i) => [lines[i].productId, result.data]));
  const totals = cartTotals(lines, byId);
  const pricing = products.some((result) => result.isPending);
  const signedIn = useSession() !== null;

  return (
    <>
      <h1>Your cart</h1>
      <Panel
        title="Items"
        hideTitle
        query={cart}
        isEmpty={(list) => list.length === 0}
        empty={
          <>
            Your cart is empty. <Link to="/products">Browse the catalog</Link>.
          </>
        }
      >
        {(list) => (
          <>
            <table className="cart-table">
              <caption className="visually-hidden">Items in your cart</caption>
              <thead>
                <tr>
                  <th scope="col">Product</th>
                  <th scope="col">Price</th>
                  <th scope="col">Quantity</th>
                  <th scope="col">Line total</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((line) => (
                  <LineRow key={`${line.itemId}-${line.quantity}`} line={line} product={byId.get(line.productId)} />
                ))}
              </tbody>
            </table>
            <dl className="totals" aria-busy={pricing}>
              <dt>Items</dt>
              <dd data-testid="cart-count">{totals.itemCount}</dd>
              <dt>Subtotal</dt>
              <dd data-testid="cart-subtotal">{pricing ? "…" : formatMoney(totals.subtotalCents)}</dd>
            </dl>
            <p className="muted">Shipping is calculated at checkout.</p>
            {!signedIn && (
              <p className="notice">
                This cart is kept in this browser. <Link to="/signin?next=%2Fcart">Sign in</Link> and it joins your account's cart.
              </p>
            )}
            <Link className="button" to="/checkout/address">
              Go to checkout
            </Link>
          </>
        )}
      </Panel>
    </>
  );
}
