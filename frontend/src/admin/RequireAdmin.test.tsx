import { render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router";
import { roleOf, setSession } from "../api/session";
import { RequireAdmin } from "./RequireAdmin";

// Unsigned JWT-shaped tokens: the page only reads the role claim; the gateway checks signatures.
const token = (claims: object) => `h.${btoa(JSON.stringify(claims)).replace(/=+$/, "")}.s`;

function renderAdmin() {
  render(
    <MemoryRouter initialEntries={["/admin"]}>
      <Routes>
        <Route element={<RequireAdmin />}>
          <Route path="/admin" element={<h1>Back office</h1>} />
        </Route>
        <Route path="/signin" element={<h1>Sign in</h1>} />
      </Routes>
    </MemoryRouter>,
  );
}

afterEach(() => setSession(null));

test("signed out: the back office sends to sign-in", () => {
  renderAdmin();
  expect(screen.getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
});

test("a shopper gets a clear 403 page, not the back office", () => {
  setSession({ token: token({ sub: "7", role: "customer" }), email: "a@b.co" });
  renderAdmin();
  expect(screen.getByRole("heading", { name: "Access denied" })).toBeInTheDocument();
  expect(screen.queryByRole("heading", { name: "Back office" })).not.toBeInTheDocument();
});

test("an admin gets in", () => {
  setSession({ token: token({ sub: "1", role: "admin" }), email: "admin@b.co" });
  renderAdmin();
  expect(screen.getByRole("heading", { name: "Back office" })).toBeInTheDocument();
});

test("a malformed token has no role", () => {
  expect(roleOf("garbage")).toBeNull();
});
