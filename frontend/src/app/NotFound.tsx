import { Link, isRouteErrorResponse, useRouteError } from "react-router";
import { useTitle } from "../shared/useTitle";

export function NotFound() {
  useTitle("Page not found");
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page here. <Link to="/">Go to the home page</Link> or <Link to="/products">browse the catalog</Link>.
      </p>
    </>
  );
}

export function RouteError() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : null;
  return (
    <main id="main" tabIndex={-1}>
      <h1>{status === 404 ? "Page not found" : "Something went wrong"}</h1>
      <p>
        Please <a href="/">go back to the home page</a> and try again.
      </p>
    </main>
  );
}
