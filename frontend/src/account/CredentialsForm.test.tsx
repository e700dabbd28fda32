import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ApiError } from "../api/errors";
import { CredentialsForm } from "./CredentialsForm";

test("problems are shown beside their fields and nothing is sent", async () => {
  const onSubmit = vi.fn();
  render(<CredentialsForm registering submitLabel="Create account" onSubmit={onSubmit} />);
  await userEvent.type(screen.getByLabelText("Email"), "not-an-email");
  await userEvent.type(screen.getByLabelText(/Password/), "short");
  await userEvent.click(screen.getByRole("button", { name: "Create account" }));
  expect(onSubmit).not.toHaveBeenCalled();
  const email = screen.getByLabelText("Email");
  expect(email).toHaveAttribute("aria-invalid", "true");
  expect(email).toHaveAccessibleDescription(/valid email address/);
  expect(screen.getByLabelText(/Password/)).toHaveAccessibleDescription(/Use at least 8 characters/);
  // What was typed is kept.
  expect(email).toHaveValue("not-an-email");
});

test("the server's field errors land beside the field; other failures above the button", async () => {
  const onSubmit = vi.fn().mockRejectedValueOnce(new ApiError(400, "email: already registered")).mockRejectedValueOnce(new ApiError(401, "invalid credentials"));
  render(<CredentialsForm registering={false} submitLabel="Sign in" onSubmit={onSubmit} />);
  await userEvent.type(screen.getByLabelText("Email"), "a@b.co");
  await userEvent.type(screen.getByLabelText(/Password/), "whatever1");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByText("already registered")).toBeInTheDocument();
  expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email or password.");
  expect(onSubmit).toHaveBeenCalledTimes(2);
});
