// The typed client of the gateway's /api (types generated from its OpenAPI: schema.ts).
import createClient, { type Middleware } from "openapi-fetch";
import { ApiError, errorFromResponse } from "./errors";
import type { components, paths } from "./schema";
import { getSession, setSession } from "./session";
import { sessionFetch } from "./sessionFetch";

export type Schemas = components["schemas"];

const errors: Middleware = {
  async onResponse({ response }) {
    if (response.ok) return response;
    // The session ended (signed out elsewhere, renewal refused): show the signed-out state.
    if (response.status === 401 && getSession() && !response.url.includes("/api/auth/session")) setSession(null);
    throw await errorFromResponse(response);
  },
  onError({ error }) {
    return new ApiError(0, error instanceof Error ? error.message : "network error");
  },
};

export const api = createClient<paths>({ baseUrl: "/", fetch: sessionFetch });
api.use(errors);

/** The body of a successful answer (failures were thrown as ApiError by the middleware). */
export function data<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data === undefined && result.response.status !== 204) {
    throw new ApiError(result.response.status, "empty answer");
  }
  return result.data as T;
}

/** The X-Next-Page-Token header of a list answer, or null on the last page. */
export function nextPageToken(response: Response): string | null {
  return response.headers.get("X-Next-Page-Token");
}

export interface CardToken {
  token: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

export interface Card {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
}

/** Card data goes only to the payment provider (same origin under /provider), never to /api. */
export async function tokenizeCard(card: Card): Promise<CardToken> {
  let response: Response;
  try {
    response = await fetch("/provider/v1/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(card),
    });
  } catch (error) {
    throw new ApiError(0, error instanceof Error ? error.message : "network error");
  }
  if (!response.ok) throw await errorFromResponse(response);
  return (await response.json()) as CardToken;
}
