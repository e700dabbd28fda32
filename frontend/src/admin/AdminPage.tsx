// The back office: one tab per job, each its own chunk; the tab (and its filters) live in the URL.
import { lazy, Suspense } from "react";
import { Link, useSearchParams } from "react-router";
import { useTitle } from "../shared/useTitle";

const TABS = {
  products: { label: "Products", Tab: lazy(() => import("./ProductsTab")) },
  stock: { label: "Stock", Tab: lazy(() => import("./StockTab")) },
  orders: { label: "Orders", Tab: lazy(() => import("./OrdersTab")) },
  shipments: { label: "Shipments", Tab: lazy(() => import("./ShipmentsTab")) },
  reviews: { label: "Reviews", Tab: lazy(() => import("./ReviewsTab")) },
  content: { label: "Posts and banners", Tab: lazy(() => import("./ContentTab")) },
} as const;

export default function AdminPage() {
  const [params] = useSearchParams();
  const tab = params.get("tab") ?? "products";
  const current = (tab in TABS ? tab : "products") as keyof typeof TABS;
  const { label, Tab } = TABS[current];
  useTitle(`Back office: ${label}`);
  return (
    <>
      <h1>Back office: {label}</h1>
      <nav aria-label="Back office">
        <ul className="steps">
          {Object.entries(TABS).map(([key, t]) => (
            <li key={key}>
              <Link to={`/admin?tab=${key}`} aria-current={key === current ? "page" : undefined}>
                {t.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <Suspense
        fallback={
          <p role="status" className="muted">
            Loading {label.toLowerCase()}…
          </p>
        }
      >
        <Tab />
      </Suspense>
    </>
  );
}
