import { afterEach, expect, test, vi } from "vitest";
import { getSession, setSession } from "./session";
import { renewSession, restoreSession, sessionFetch } from "./sessionFetch";

const ada = { userId: 7, email: "ada@shop.test", role: "customer", csrfToken: "csrf-1" };
const info = (csrf: string) => ({ user_id: 7, email: "ada@shop.test", role: "customer", csrf_token: csrf });
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** A fake gateway: answers by path, records what was sent. */
function gateway(answer: (path: string, request: Request) => Response) {
  const sent: { path: string; method: string; csrf: string | null }[] = [];
  const fake = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://shop.test"), init);
    const path = new URL(request.url).pathname;
    sent.push({ path, method: request.method, csrf: request.headers.get("X-CSRF-Token") });
    return answer(path, request);
  });
  vi.stubGlobal("fetch", fake);
  return sent;
}

afterEach(() => {
  vi.unstubAllGlobals();
  setSession(null);
});

test("state changes carry the session's CSRF token; reads do not need it", async () => {
  setSession(ada);
  const sent = gateway(() => json(200, {}));
  await sessionFetch(new Request("http://shop.test/api/cart/", { method: "POST", body: "{}" }));
  await sessionFetch(new Request("http://shop.test/api/cart/"));
  expect(sent.map((s) => [s.method, s.csrf])).toEqual([
    ["POST", "csrf-1"],
    ["GET", null],
  ]);
});

test("an expired access token is renewed once for concurrent calls, which are then repeated", async () => {
  setSession(ada);
  let renewed = false;
  const sent = gateway((path) => {
    if (path === "/api/auth/session/refresh") {
      renewed = true;
      return json(200, info("csrf-1"));
    }
    return renewed ? json(200, { ok: true }) : json(401, { error: "Invalid or expired token" });
  });
  const answers = await Promise.all([
    sessionFetch(new Request("http://shop.test/api/cart/")),
    sessionFetch(new Request("http://shop.test/api/profile/")),
  ]);
  expect(answers.map((a) => a.status)).toEqual([200, 200]);
  expect(sent.filter((s) => s.path === "/api/auth/session/refresh")).toHaveLength(1);
  expect(getSession()).toEqual(ada);
});

test("a refused renewal signs the page out", async () => {
  setSession(ada);
  gateway(() => json(401, { error: "No browser session: sign in again" }));
  const answer = await sessionFetch(new Request("http://shop.test/api/cart/"));
  expect(answer.status).toBe(401);
  expect(getSession()).toBeNull();
});

test("a renewal raced by another tab keeps the session and repeats the call", async () => {
  setSession(ada);
  let calls = 0;
  gateway((path) => {
    if (path === "/api/auth/session/refresh") return json(409, { error: "renewed a moment ago" });
    calls += 1;
    return calls === 1 ? json(401, { error: "expired" }) : json(200, {});
  });
  expect((await sessionFetch(new Request("http://shop.test/api/cart/"))).status).toBe(200);
  expect(getSession()).toEqual(ada);
});

test("signed out, a 401 is just an answer: no renewal is tried", async () => {
  const sent = gateway(() => json(401, { error: "Authentication required" }));
  await sessionFetch(new Request("http://shop.test/api/cart/"));
  expect(sent.map((s) => s.path)).toEqual(["/api/cart/"]);
});

test("a reload restores the session from the cookies, renewing an expired access token", async () => {
  let renewed = false;
  gateway((path) => {
    if (path === "/api/auth/session/refresh") {
      renewed = true;
      return json(200, info("csrf-2"));
    }
    return renewed ? json(200, info("csrf-2")) : json(401, { error: "expired" });
  });
  await restoreSession();
  expect(getSession()).toEqual({ ...ada, csrfToken: "csrf-2" });
  expect(await renewSession()).toBe(true);
});

test("nothing of the session is kept in web storage", async () => {
  gateway(() => json(200, info("csrf-3")));
  await restoreSession();
  expect(getSession()?.csrfToken).toBe("csrf-3");
  expect(localStorage.length).toBe(0);
  expect(sessionStorage.length).toBe(0);
});
