import { render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { setSession } from "../api/session";
import { RequireAuth, safeNext } from "./RequireAuth";

function Where() {
  const location = useLocation();
  return <p>at {location.pathname + location.search}</p>;
}

function renderAt(path: string) {
  render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route element={<RequireAuth />}>
          <Route path="/account" element={<h1>Your account</h1>} />
        </Route>
        <Route path="/signin" element={<Where />} />
      </Routes>
    </MemoryRouter>,
  );
}

afterEach(() => setSession(null));

test("a signed-out visitor is sent to sign-in with the way back", () => {
  renderAt("/account?tab=orders");
  expect(screen.getByText("at /signin?next=%2Faccount%3Ftab%3Dorders")).toBeInTheDocument();
  expect(screen.queryByRole("heading", { name: "Your account" })).not.toBeInTheDocument();
});

test("a signed-in shopper sees the page", () => {
  setSession({ userId: 7, email: "a@b.co", role: "customer", csrfToken: "c" });
  renderAt("/account");
  expect(screen.getByRole("heading", { name: "Your account" })).toBeInTheDocument();
});

test("only same-site paths are followed after sign-in", () => {
  expect(safeNext("/cart")).toBe("/cart");
  expect(safeNext("//evil.example")).toBe("/account");
  expect(safeNext("https://evil.example")).toBe("/account");
  expect(safeNext(null)).toBe("/account");
});
