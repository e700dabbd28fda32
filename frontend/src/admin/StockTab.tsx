// Stock: the products at or under their low-stock threshold, and one product's movement history.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";

function Movements({ productId }: { productId: number }) {
  const movements = useQuery({
    queryKey: ["admin-movements", productId],
    queryFn: async () => data(await api.GET("/api/inventory/{product_id}/movements/", { params: { path: { product_id: productId }, query: { page_size: 100 } } })),
  });
  return (
    <Panel title={`Stock movements of product ${productId}`} query={movements} isEmpty={(m) => m.movements.length === 0} empty="No movements yet.">
      {(m) => (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Change</th>
              <th scope="col">On hand after</th>
              <th scope="col">Reason</th>
              <th scope="col">By</th>
            </tr>
          </thead>
          <tbody>
            {m.movements.map((row) => (
              <tr key={row.id}>
                <td>{new Date(row.created_at).toLocaleString()}</td>
                <td>{row.delta > 0 ? `+${row.delta}` : row.delta}</td>
                <td>{row.resulting_on_hand}</td>
                <td>
                  {row.reason}
                  {row.reference && ` (${row.reference})`}
                </td>
                <td>{row.actor}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

export default function StockTab() {
  const [params, setParams] = useSearchParams();
  const productId = Number(params.get("product") ?? 0);
  const [draft, setDraft] = useState(productId ? String(productId) : "");
  const low = useQuery({
    queryKey: ["admin-low-stock"],
    queryFn: async () => data(await api.GET("/api/inventory/low-stock/", { params: { query: { page_size: 200 } } })),
  });
  return (
    <>
      <Panel title="Low stock" query={low} isEmpty={(l) => l.products.length === 0} empty="Every product is above its low-stock threshold.">
        {(l) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Available</th>
                <th scope="col">On hand</th>
                <th scope="col">Reserved</th>
                <th scope="col">Threshold</th>
              </tr>
            </thead>
            <tbody>
              {l.products.map((p) => (
                <tr key={p.product_id}>
                  <th scope="row">
                    <Link to={`/admin?tab=stock&product=${p.product_id}`}>Product {p.product_id}</Link>
                  </th>
                  <td>{p.available}</td>
                  <td>{p.on_hand}</td>
                  <td>{p.reserved}</td>
                  <td>{p.low_stock_threshold}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      <form
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (/^\d+$/.test(draft.trim())) setParams({ tab: "stock", product: draft.trim() });
        }}
      >
        <label htmlFor="movements-product">Product id</label>
        <input id="movements-product" inputMode="numeric" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">Show movements</button>
      </form>
      {productId > 0 && <Movements key={productId} productId={productId} />}
    </>
  );
}
