// Every /api call goes through here: the session cookie rides along by itself (same origin), state
// changes get the X-CSRF-Token header, and a 401 of an expired access token renews the session once
// (one renewal at a time for the whole page) and repeats the call.
import { getSession, setSession, toSession, type SessionInfo } from "./session";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const SESSION_PATH = "/api/auth/session";
let renewing: Promise<boolean> | null = null;

function withCsrf(request: Request): Request {
  const session = getSession();
  if (session && !SAFE.has(request.method)) request.headers.set("X-CSRF-Token", session.csrfToken);
  return request;
}

/** Renews the session with its renewal cookie; false when it has ended (the page is signed out). */
export function renewSession(): Promise<boolean> {
  renewing ??= (async () => {
    try {
      const response = await fetch(`${SESSION_PATH}/refresh`, { method: "POST", credentials: "same-origin" });
      if (response.ok) {
        setSession(toSession((await response.json()) as SessionInfo));
        return true;
      }
      // 409: another tab renewed this very moment; its new cookies are this page's too.
      if (response.status === 409) return true;
      if (response.status === 401) setSession(null);
      return false;
    } catch {
      return false;
    } finally {
      renewing = null;
    }
  })();
  return renewing;
}

export async function sessionFetch(request: Request): Promise<Response> {
  const again = request.clone();
  const response = await fetch(withCsrf(request));
  const isSessionCall = new URL(request.url).pathname.startsWith(SESSION_PATH);
  if (response.status !== 401 || isSessionCall || !getSession()) return response;
  if (!(await renewSession())) return response;
  return fetch(withCsrf(again));
}

/** At start: who is signed in, from the cookies (renewing an expired access token). */
export async function restoreSession(): Promise<void> {
  try {
    let response = await fetch(`${SESSION_PATH}/`, { credentials: "same-origin" });
    if (response.status === 401 && (await renewSession())) {
      response = await fetch(`${SESSION_PATH}/`, { credentials: "same-origin" });
    }
    setSession(response.ok ? toSession((await response.json()) as SessionInfo) : null);
  } catch {
    setSession(null);
  }
}
