import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api, data } from "../api/client";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";
import { useProducts } from "../shared/queries";
import { useTitle } from "../shared/useTitle";

export default function ConfirmationPage() {
  useTitle("Order placed");
  const id = Number(useParams().id);
  const order = useQuery({ queryKey: ["order", id], queryFn: async () => data(await api.GET("/api/orders/{order_id}", { params: { path: { order_id: id } } })) });
  const products = useProducts(order.data?.items.map((item) => item.product_id) ?? []);
  return (
    <>
      <h1>Thank you for your order</h1>
      <Panel title={`Order ${id}`} query={order}>
        {(o) => (
          <>
            <p>
              Your order number is <strong data-testid="order-id">{o.order_id}</strong>.
            </p>
            <ul>
              {o.items.map((item, i) => (
                <li key={item.product_id}>
                  {products[i]?.data?.name ?? `Product ${item.product_id}`} × {item.quantity}
                </li>
              ))}
            </ul>
            <p>
              Total charged: <strong data-testid="order-total">{formatPrice(o.total)}</strong>
            </p>
            <p>
              <Link to={`/account/orders/${o.order_id}`}>Track this order</Link> or <Link to="/products">keep shopping</Link>.
            </p>
          </>
        )}
      </Panel>
    </>
  );
}
