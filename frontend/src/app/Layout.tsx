import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { Link, NavLink, Outlet, useLocation, useNavigate, useNavigation } from "react-router";
import { signOut as endSession } from "../account/signIn";
import { isAdmin } from "../api/session";
import { useCart } from "../shared/queries";
import { useSession } from "../shared/session";

/** On every route change, focus goes to the page's heading (or main) so screen readers start there. */
function useFocusOnRouteChange() {
  const location = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const target = main.current?.querySelector<HTMLElement>("h1") ?? main.current;
    if (target) {
      if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
      target.focus();
    }
  }, [location.pathname]);
  return main;
}

function CartLink() {
  const cart = useCart();
  const count = cart.data?.reduce((n, line) => n + line.quantity, 0) ?? 0;
  return (
    <NavLink to="/cart">
      Cart{count > 0 && <span aria-label={`, ${count} items`}> ({count})</span>}
    </NavLink>
  );
}

function SignOut() {
  const navigate = useNavigate();
  const client = useQueryClient();
  async function signOut() {
    try {
      await endSession();
    } catch {
      // Signed out locally either way.
    }
    client.clear();
    navigate("/");
  }
  return (
    <button type="button" className="link-button" onClick={() => void signOut()}>
      Sign out
    </button>
  );
}

export function Layout() {
  const session = useSession();
  const main = useFocusOnRouteChange();
  const navigation = useNavigation();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <Link to="/" className="brand">
          Shop
        </Link>
        <nav aria-label="Main">
          <ul>
            <li>
              <NavLink to="/products">Catalog</NavLink>
            </li>
            <li>
              <NavLink to="/blog">Blog</NavLink>
            </li>
            {session ? (
              <>
                <li>
                  <CartLink />
                </li>
                <li>
                  <NavLink to="/account">Account</NavLink>
                </li>
                {isAdmin(session) && (
                  <li>
                    <NavLink to="/admin">Back office</NavLink>
                  </li>
                )}
                <li>
                  <SignOut />
                </li>
              </>
            ) : (
              <>
                <li>
                  <CartLink />
                </li>
                <li>
                  <NavLink to="/signin">Sign in</NavLink>
                </li>
              </>
            )}
          </ul>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1} aria-busy={navigation.state === "loading"}>
        <Outlet />
      </main>
      <footer className="site-footer">
        <p>An open-source shop.</p>
      </footer>
    </>
  );
}
