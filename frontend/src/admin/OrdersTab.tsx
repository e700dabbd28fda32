// Orders: filter by status, one order in full, cancel, refund (all or part), fulfil and ship, and
// its shipment's timeline (advanced by hand here).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { Field, FormError, SelectField } from "../shared/Field";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";

const STATUSES = ["pending", "paid", "fulfilled", "shipped", "delivered", "cancelled", "refunded", "failed"] as const;
const SHIPMENT_STEPS = ["in_transit", "out_for_delivery", "delivered", "exception"] as const;
type ShipmentStep = (typeof SHIPMENT_STEPS)[number];
const label = (status: string) => status.replace(/_/g, " ");

function newKey(): string {
  return crypto.randomUUID();
}

function RefundForm({ orderId, total }: { orderId: number; total: number }) {
  const client = useQueryClient();
  const [amount, setAmount] = useState("");
  const [error, setError] = useState<string>();
  // One key per refund the admin means to make: a retry after a lost answer reuses it.
  const key = useRef(newKey());
  const refund = useMutation({
    mutationFn: async () =>
      data(
        await api.POST("/api/admin/orders/{order_id}/refund", {
          params: { path: { order_id: orderId }, header: { "Idempotency-Key": key.current } },
          body: amount ? { amount: Number(amount) } : {},
        }),
      ),
    onSuccess: () => {
      key.current = newKey();
      setAmount("");
      return client.invalidateQueries({ queryKey: ["admin-order"] }).then(() => client.invalidateQueries({ queryKey: ["admin-orders"] }));
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    if (amount && (!/^\d+(\.\d{1,2})?$/.test(amount) || Number(amount) <= 0 || Number(amount) > total)) {
      setError(`Enter an amount up to ${formatPrice(total)}, or leave it empty to refund everything.`);
      return;
    }
    setError(undefined);
    refund.mutate();
  }
  return (
    <form onSubmit={submit} noValidate aria-labelledby={`refund-${orderId}`}>
      <h3 id={`refund-${orderId}`}>Refund</h3>
      <Field label="Refund amount" inputMode="decimal" hint="Empty: everything not refunded yet." value={amount} error={error} onChange={(e) => setAmount(e.target.value)} />
      <FormError message={refund.isError ? toApiError(refund.error).userMessage : null} />
      <button type="submit" disabled={refund.isPending}>
        Refund order {orderId}
      </button>
      <div aria-live="polite">
        {refund.isSuccess && (
          <p className="notice success">
            Refunded {formatPrice(refund.data.refunded)} in all{refund.data.fully_refunded ? ": fully refunded." : " (partially refunded)."}
          </p>
        )}
      </div>
    </form>
  );
}

function Tracking({ orderId }: { orderId: number }) {
  const client = useQueryClient();
  const [step, setStep] = useState<ShipmentStep>("in_transit");
  const [location, setLocation] = useState("");
  const tracking = useQuery({
    queryKey: ["admin-order", orderId, "tracking"],
    queryFn: async () => data(await api.GET("/api/orders/{order_id}/tracking", { params: { path: { order_id: orderId } } })),
    retry: false,
  });
  const advance = useMutation({
    mutationFn: async (shipmentId: number) =>
      data(await api.POST("/api/admin/shipments/{id}/events", { params: { path: { id: shipmentId } }, body: { status: step, location } })),
    onSuccess: () => {
      setLocation("");
      return client.invalidateQueries({ queryKey: ["admin-order", orderId] });
    },
  });
  return (
    <Panel title="Shipment" headingLevel={3} query={tracking}>
      {(t) => (
        <>
          <p>
            {t.carrier} {t.method}, tracking number {t.tracking_number}: <strong>{label(t.status)}</strong>
          </p>
          <ol aria-label="Shipment timeline">
            {t.events.map((e, i) => (
              <li key={i}>
                {new Date(e.occurred_at).toLocaleString()}: {label(e.status)}
                {e.location && `, ${e.location}`}
                {e.message && ` (${e.message})`}
              </li>
            ))}
          </ol>
          {t.status !== "delivered" && (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                advance.mutate(t.shipment_id);
              }}
            >
              <SelectField label="Next step" value={step} onChange={(e) => setStep(e.target.value as ShipmentStep)}>
                {SHIPMENT_STEPS.map((s) => (
                  <option key={s} value={s}>
                    {label(s)}
                  </option>
                ))}
              </SelectField>
              <Field label="Location" value={location} onChange={(e) => setLocation(e.target.value)} />
              <FormError message={advance.isError ? toApiError(advance.error).userMessage : null} />
              <button type="submit" disabled={advance.isPending}>
                Add to the timeline
              </button>
            </form>
          )}
        </>
      )}
    </Panel>
  );
}

function OrderDetail({ orderId }: { orderId: number }) {
  const client = useQueryClient();
  const order = useQuery({
    queryKey: ["admin-order", orderId],
    queryFn: async () => data(await api.GET("/api/admin/orders/{order_id}", { params: { path: { order_id: orderId } } })),
  });
  const refresh = () => Promise.all([client.invalidateQueries({ queryKey: ["admin-order"] }), client.invalidateQueries({ queryKey: ["admin-orders"] })]);
  const fulfil = useMutation({
    mutationFn: async (status: "fulfilled" | "shipped") =>
      data(await api.POST("/api/admin/orders/{order_id}/fulfilment", { params: { path: { order_id: orderId } }, body: { status } })),
    onSuccess: refresh,
  });
  const cancel = useMutation({
    mutationFn: async () => data(await api.POST("/api/orders/{order_id}/cancel", { params: { path: { order_id: orderId } } })),
    onSuccess: refresh,
  });
  const failure = fulfil.error ?? cancel.error;
  return (
    <Panel title={`Order ${orderId}`} query={order}>
      {(o) => (
        <>
          <p>
            Status: <strong data-testid="order-status">{o.status}</strong>. Customer {o.user_id}. Placed {new Date(o.created_at).toLocaleString()}.
          </p>
          <table>
            <caption className="visually-hidden">Lines of order {orderId}</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Quantity</th>
                <th scope="col">Unit price</th>
                <th scope="col">Line total</th>
              </tr>
            </thead>
            <tbody>
              {o.items.map((line) => (
                <tr key={line.product_id}>
                  <th scope="row">
                    <Link to={`/products/${line.product_id}`}>{line.name}</Link>
                  </th>
                  <td>{line.quantity}</td>
                  <td>{formatPrice(line.unit_price)}</td>
                  <td>{formatPrice(line.line_total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p>
            Subtotal {formatPrice(o.subtotal)}, shipping {formatPrice(o.shipping)}, total <strong>{formatPrice(o.total)}</strong>.
          </p>
          <p>Ship to: {o.shipping_address || "no address"}{o.shipping_method && ` (${o.shipping_method})`}</p>
          <div className="actions">
            {o.status === "paid" && (
              <button type="button" onClick={() => fulfil.mutate("fulfilled")} disabled={fulfil.isPending}>
                Mark fulfilled
              </button>
            )}
            {(o.status === "paid" || o.status === "fulfilled") && (
              <button type="button" onClick={() => fulfil.mutate("shipped")} disabled={fulfil.isPending}>
                Mark shipped
              </button>
            )}
            {["pending", "paid", "fulfilled"].includes(o.status) && (
              <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
                Cancel order
              </button>
            )}
          </div>
          <FormError message={failure ? toApiError(failure).userMessage : null} />
          {["paid", "fulfilled", "shipped", "delivered"].includes(o.status) && <RefundForm orderId={orderId} total={o.total} />}
          {o.shipment_id && <Tracking orderId={orderId} />}
          <h3>History</h3>
          <ol aria-label="Order history">
            {o.events.map((e, i) => (
              <li key={i}>
                {new Date(e.at).toLocaleString()}: {e.status}, {e.note} ({e.actor})
              </li>
            ))}
          </ol>
        </>
      )}
    </Panel>
  );
}

export default function OrdersTab() {
  const [params, setParams] = useSearchParams();
  const given = params.get("status") ?? "";
  const status = STATUSES.find((s) => s === given) ?? "";
  const selected = Number(params.get("order") ?? 0);
  const orders = useQuery({
    queryKey: ["admin-orders", status],
    queryFn: async () => data(await api.GET("/api/orders/", { params: { query: { page_size: 100, ...(status ? { status } : {}) } } })),
  });
  const show = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setParams(next);
  };
  return (
    <>
      <SelectField label="Status" value={status} onChange={(e) => show({ status: e.target.value, order: "" })}>
        <option value="">Any status</option>
        {STATUSES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </SelectField>
      <Panel title="Orders" query={orders} isEmpty={(o) => o.orders.length === 0} empty="No orders.">
        {(o) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Items</th>
                <th scope="col">Total</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {o.orders.map((order) => (
                <tr key={order.order_id}>
                  <th scope="row">
                    <Link to={`?${new URLSearchParams({ ...Object.fromEntries(params), order: String(order.order_id) })}`} aria-current={order.order_id === selected ? "true" : undefined}>
                      Order {order.order_id}
                    </Link>
                  </th>
                  <td>{order.items.reduce((n, i) => n + i.quantity, 0)}</td>
                  <td>{formatPrice(order.total)}</td>
                  <td>{order.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      {selected > 0 && <OrderDetail key={selected} orderId={selected} />}
    </>
  );
}
