// Route table: each page is its own chunk (route-level code splitting).
import { createBrowserRouter, type RouteObject } from "react-router";
import { RequireAuth } from "../account/RequireAuth";
import { RequireAdmin } from "../admin/RequireAdmin";
import { Layout } from "./Layout";
import { NotFound, RouteError } from "./NotFound";

const page = (load: () => Promise<{ default: React.ComponentType }>) => async () => ({ Component: (await load()).default });

export const routes: RouteObject[] = [
  {
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      { index: true, lazy: page(() => import("../home/HomePage")) },
      { path: "products", lazy: page(() => import("../catalog/CatalogPage")) },
      { path: "products/:id", lazy: page(() => import("../product/ProductPage")) },
      { path: "blog", lazy: page(() => import("../blog/BlogPage")) },
      { path: "blog/:slug", lazy: page(() => import("../blog/PostPage")) },
      { path: "signin", lazy: page(() => import("../account/SignInPage")) },
      { path: "register", lazy: page(() => import("../account/RegisterPage")) },
      // Guests have a cart too (merged into theirs when they sign in).
      { path: "cart", lazy: page(() => import("../cart/CartPage")) },
      {
        element: <RequireAuth />,
        children: [
          { path: "checkout/:step?", lazy: page(() => import("../checkout/CheckoutPage")) },
          { path: "orders/:id/confirmation", lazy: page(() => import("../checkout/ConfirmationPage")) },
          { path: "account", lazy: page(() => import("../account/AccountPage")) },
          { path: "account/orders/:id", lazy: page(() => import("../account/OrderPage")) },
        ],
      },
      { element: <RequireAdmin />, children: [{ path: "admin", lazy: page(() => import("../admin/AdminPage")) }] },
      { path: "*", element: <NotFound /> },
    ],
  },
];

export const router = createBrowserRouter(routes);
