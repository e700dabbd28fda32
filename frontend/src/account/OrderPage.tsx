import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";
import { keys, useProducts } from "../shared/queries";
import { useTitle } from "../shared/useTitle";
import { useOrders } from "./AccountPage";

const CANCELLABLE = new Set(["pending", "paid"]);

function Tracking({ id }: { id: number }) {
  const tracking = useQuery({
    queryKey: ["tracking", id],
    queryFn: async () => {
      try {
        return data(await api.GET("/api/orders/{order_id}/tracking", { params: { path: { order_id: id } } }));
      } catch (error) {
        if (toApiError(error).kind === "not-found") return null; // not shipped yet
        throw error;
      }
    },
  });
  return (
    <Panel title="Tracking" query={tracking} isEmpty={(t) => t === null} empty="Not shipped yet.">
      {(t) => (
        <>
          <p>
            {t!.carrier} {t!.tracking_number}: <strong>{t!.status}</strong>
          </p>
          <ol className="timeline">
            {t!.events.map((event, i) => (
              <li key={i}>
                <time dateTime={event.occurred_at}>{new Date(event.occurred_at).toLocaleString()}</time>: {event.status}
                {event.location && ` (${event.location})`} {event.message}
              </li>
            ))}
          </ol>
        </>
      )}
    </Panel>
  );
}

export default function OrderPage() {
  const id = Number(useParams().id);
  useTitle(`Order ${id}`);
  const client = useQueryClient();
  const order = useQuery({ queryKey: ["order", id], queryFn: async () => data(await api.GET("/api/orders/{order_id}", { params: { path: { order_id: id } } })) });
  const orders = useOrders();
  const status = orders.data?.orders.find((o) => o.order_id === id)?.status;
  const products = useProducts(order.data?.items.map((item) => item.product_id) ?? []);
  const cancel = useMutation({
    mutationFn: async () => data(await api.POST("/api/orders/{order_id}/cancel", { params: { path: { order_id: id } } })),
    onSettled: () => Promise.all([client.invalidateQueries({ queryKey: keys.orders }), client.invalidateQueries({ queryKey: ["order", id] })]),
  });
  return (
    <>
      <h1>Order {id}</h1>
      <p>
        <Link to="/account">Back to your account</Link>
      </p>
      <Panel title="Details" query={order}>
        {(o) => (
          <>
            {status && (
              <p>
                Status: <strong>{status}</strong>
              </p>
            )}
            <ul>
              {o.items.map((item, i) => (
                <li key={item.product_id}>
                  {products[i]?.data?.name ?? `Product ${item.product_id}`} × {item.quantity}
                </li>
              ))}
            </ul>
            <p>Total: {formatPrice(o.total)}</p>
            {status && CANCELLABLE.has(status) && (
              <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
                Cancel order
              </button>
            )}
            {cancel.isError && (
              <p role="alert" className="notice error">
                {toApiError(cancel.error).userMessage}
              </p>
            )}
            <div aria-live="polite">{cancel.isSuccess && <p className="notice success">Your order is cancelled and refunded.</p>}</div>
          </>
        )}
      </Panel>
      <Tracking id={id} />
    </>
  );
}
