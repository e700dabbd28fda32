import { useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { useTitle } from "../shared/useTitle";
import { CredentialsForm } from "./CredentialsForm";
import { safeNext } from "./RequireAuth";
import { signIn } from "./signIn";

export default function RegisterPage() {
  useTitle("Create an account");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const next = safeNext(params.get("next"));
  return (
    <>
      <h1>Create an account</h1>
      <CredentialsForm
        registering
        submitLabel="Create account"
        onSubmit={async ({ email, password }) => {
          data(await api.POST("/api/auth/register/", { body: { email, password } }));
          await signIn(email, password);
          client.clear();
          navigate(next, { replace: true });
        }}
      />
      <p>
        Already have an account? <Link to={`/signin?next=${encodeURIComponent(next)}`}>Sign in</Link>.
      </p>
    </>
  );
}
