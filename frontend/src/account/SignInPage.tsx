import { useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useTitle } from "../shared/useTitle";
import { CredentialsForm } from "./CredentialsForm";
import { safeNext } from "./RequireAuth";
import { signIn } from "./signIn";

export default function SignInPage() {
  useTitle("Sign in");
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const next = safeNext(params.get("next"));
  return (
    <>
      <h1>Sign in</h1>
      <CredentialsForm
        registering={false}
        submitLabel="Sign in"
        onSubmit={async ({ email, password }) => {
          await signIn(email, password);
          client.clear();
          navigate(next, { replace: true });
        }}
      />
      <p>
        New here? <Link to={`/register?next=${encodeURIComponent(next)}`}>Create an account</Link>.
      </p>
    </>
  );
}
