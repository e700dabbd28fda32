// The signed-in user as the page knows it. The tokens themselves live in httpOnly cookies that the
// gateway sets (POST /api/auth/session/) and no script can read; the page keeps only who is signed
// in and the session's CSRF token, in memory. A reload asks the gateway again (restoreSession).

export interface Session {
  userId: number;
  email: string;
  /** What the pages offer ("customer" or "admin"); the gateway decides what is allowed. */
  role: string;
  /** Sent as X-CSRF-Token on every state change. */
  csrfToken: string;
}

/** The gateway's answer of /api/auth/session (SessionInfo). */
export interface SessionInfo {
  user_id: number;
  email: string;
  role: string;
  csrf_token: string;
}

export function toSession(info: SessionInfo): Session {
  return { userId: info.user_id, email: info.email, role: info.role, csrfToken: info.csrf_token };
}

type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();
let current: Session | null = null;

// Older builds kept the bearer token in sessionStorage: drop it.
try {
  sessionStorage.removeItem("shop.session");
} catch {
  // Storage unavailable: nothing was kept there either.
}

export function getSession(): Session | null {
  return current;
}

export function setSession(session: Session | null): void {
  current = session;
  listeners.forEach((listener) => listener(session));
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isAdmin(session: Session | null): boolean {
  return session?.role === "admin";
}
