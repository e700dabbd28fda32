import { render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router";
import { setSession } from "../api/session";
import { RequireAdmin } from "./RequireAdmin";

// The page knows the role from the gateway's session answer; the gateway checks every call.
const session = (role: string) => ({ userId: 7, email: "a@b.co", role, csrfToken: "c" });

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
  setSession(session("customer"));
  renderAdmin();
  expect(screen.getByRole("heading", { name: "Access denied" })).toBeInTheDocument();
  expect(screen.queryByRole("heading", { name: "Back office" })).not.toBeInTheDocument();
});

test("an admin gets in", () => {
  setSession(session("admin"));
  renderAdmin();
  expect(screen.getByRole("heading", { name: "Back office" })).toBeInTheDocument();
});
