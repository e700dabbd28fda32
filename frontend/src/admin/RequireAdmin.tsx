import { Link, Navigate, Outlet, useLocation } from "react-router";
import { isAdmin } from "../api/session";
import { useSession } from "../shared/session";
import { useTitle } from "../shared/useTitle";

function Forbidden() {
  useTitle("Access denied");
  return (
    <>
      <h1>Access denied</h1>
      <p>
        The back office is for shop staff. <Link to="/">Go to the shop</Link>.
      </p>
    </>
  );
}

/** Signed out: to sign-in. Signed in without the admin role: a 403 page, not the back office. */
export function RequireAdmin() {
  const session = useSession();
  const location = useLocation();
  if (!session) return <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  if (!isAdmin(session)) return <Forbidden />;
  return <Outlet />;
}
