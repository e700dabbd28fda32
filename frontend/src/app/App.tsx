import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";
import { ApiError } from "../api/errors";
import { router } from "./routes";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      // Input and permission problems do not get better by asking again.
      retry: (count, error) =>
        count < 2 && !(error instanceof ApiError && ["invalid", "signed-out", "forbidden", "not-found"].includes(error.kind)),
      refetchOnWindowFocus: false,
    },
  },
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
