import { useState, type FormEvent } from "react";
import { toApiError } from "../api/errors";
import { Field, FormError } from "../shared/Field";
import { hasErrors, validateCredentials } from "../shared/validation";

interface Props {
  registering: boolean;
  submitLabel: string;
  onSubmit: (values: { email: string; password: string }) => Promise<void>;
}

export function CredentialsForm({ registering, submitLabel, onSubmit }: Props) {
  const [values, setValues] = useState({ email: "", password: "" });
  const [errors, setErrors] = useState<ReturnType<typeof validateCredentials>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = validateCredentials(values, registering);
    setErrors(found);
    setFormError(null);
    if (hasErrors(found)) return;
    setBusy(true);
    try {
      await onSubmit({ email: values.email.trim(), password: values.password });
    } catch (error) {
      const apiError = toApiError(error);
      if (hasErrors(apiError.fieldErrors)) setErrors(apiError.fieldErrors);
      else setFormError(apiError.kind === "signed-out" ? "Wrong email or password." : apiError.userMessage);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="narrow">
      <Field label="Email" type="email" autoComplete="email" value={values.email} error={errors.email} onChange={(e) => setValues({ ...values, email: e.target.value })} />
      <Field
        label="Password"
        type="password"
        autoComplete={registering ? "new-password" : "current-password"}
        hint={registering ? "At least 8 characters." : undefined}
        value={values.password}
        error={errors.password}
        onChange={(e) => setValues({ ...values, password: e.target.value })}
      />
      <FormError message={formError} />
      <button type="submit" disabled={busy}>
        {busy ? "Please wait…" : submitLabel}
      </button>
    </form>
  );
}
