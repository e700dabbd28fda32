import { api, data } from "../api/client";
import { setSession, toSession } from "../api/session";

/** Signs the browser in: the gateway sets the session cookies and merges the guest cart. */
export async function signIn(email: string, password: string): Promise<void> {
  setSession(toSession(data(await api.POST("/api/auth/session/", { body: { email, password } }))));
}

/** Ends this browser's session (the gateway clears the cookies); signed out here either way. */
export async function signOut(): Promise<void> {
  try {
    await api.DELETE("/api/auth/session/");
  } finally {
    setSession(null);
  }
}
