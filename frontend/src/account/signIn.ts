import { api, data } from "../api/client";
import { setSession } from "../api/session";

export async function signIn(email: string, password: string): Promise<void> {
  const { token } = data(await api.POST("/api/auth/login/", { body: { email, password } }));
  setSession({ token, email });
}
