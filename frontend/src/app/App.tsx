import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { RouterProvider } from "react-router";
import { ApiError } from "../api/errors";
import { restoreSession } from "../api/sessionFetch";
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
  // Who is signed in comes from the session cookies: ask once before the first page renders, so a
  // reload of /account does not flash the sign-in page.
  const [ready, setReady] = useState(false);
  useEffect(() => {
    void restoreSession().finally(() => setReady(true));
  }, []);
  if (!ready) return null;
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
