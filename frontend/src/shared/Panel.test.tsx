import { QueryClient, QueryClientProvider, useQuery } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ApiError } from "../api/errors";
import { Panel } from "./Panel";

function Page({ reviews }: { reviews: () => Promise<string[]> }) {
  const details = useQuery({ queryKey: ["details"], queryFn: async () => "A blue mug" });
  const list = useQuery({ queryKey: ["reviews"], queryFn: reviews });
  return (
    <>
      <Panel title="Details" query={details}>
        {(text) => <p>{text}</p>}
      </Panel>
      <Panel title="Reviews" query={list} isEmpty={(l) => l.length === 0} empty="No reviews yet.">
        {(l) => <p>{l.join(", ")}</p>}
      </Panel>
    </>
  );
}

function renderPage(reviews: () => Promise<string[]>) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <Page reviews={reviews} />
    </QueryClientProvider>,
  );
}

test("a failing call breaks only its own panel, which offers a retry", async () => {
  let fail = true;
  renderPage(async () => {
    if (fail) throw new ApiError(503, "reviews service unavailable");
    return ["great"];
  });
  expect(await screen.findByText("A blue mug")).toBeInTheDocument();
  const reviews = screen.getByRole("region", { name: "Reviews" });
  expect(await screen.findByRole("alert")).toHaveTextContent(/unavailable right now/);
  expect(reviews).toContainElement(screen.getByRole("alert"));
  fail = false;
  await userEvent.click(screen.getByRole("button", { name: "Try again" }));
  expect(await screen.findByText("great")).toBeInTheDocument();
});

test("an empty answer shows the empty state, and API text is shown as text", async () => {
  renderPage(async () => []);
  expect(await screen.findByText("No reviews yet.")).toBeInTheDocument();
});
