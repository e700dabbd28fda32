// Shipments: every order's shipment, newest first, with where it is; its timeline is advanced on
// the order's page.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";

const label = (status: string) => status.replace(/_/g, " ");

export default function ShipmentsTab() {
  const shipments = useQuery({
    queryKey: ["admin-shipments"],
    queryFn: async () => data(await api.GET("/api/admin/shipments/", { params: { query: { page_size: 100 } } })),
  });
  return (
    <Panel title="Shipments" query={shipments} isEmpty={(s) => s.shipments.length === 0} empty="No shipments yet: they are made when an order with an address is paid.">
      {(s) => (
        <table>
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Carrier</th>
              <th scope="col">Tracking number</th>
              <th scope="col">Status</th>
              <th scope="col">Last update</th>
            </tr>
          </thead>
          <tbody>
            {s.shipments.map((shipment) => {
              const last = shipment.events[shipment.events.length - 1];
              return (
                <tr key={shipment.shipment_id}>
                  <th scope="row">
                    <Link to={`/admin?tab=orders&order=${shipment.order_id}`}>Order {shipment.order_id}</Link>
                  </th>
                  <td>
                    {shipment.carrier} {shipment.method}
                  </td>
                  <td>{shipment.tracking_number}</td>
                  <td>{label(shipment.status)}</td>
                  <td>{last ? new Date(last.occurred_at).toLocaleString() : ""}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
