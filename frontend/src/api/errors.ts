// The one place that turns a failed call into something a component can show.

export type ErrorKind =
  | "invalid" // 400/413/422: the input; fieldErrors says which field when the API names it
  | "signed-out" // 401
  | "forbidden" // 403
  | "not-found" // 404
  | "conflict" // 409
  | "rate-limited" // 429
  | "unavailable" // 502/503/504 or no answer at all
  | "failed"; // anything else

export class ApiError extends Error {
  readonly status: number;
  readonly kind: ErrorKind;
  /** Field (dotted path as the API names it, e.g. "shipping_address.city") -> message. */
  readonly fieldErrors: Record<string, string>;

  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.kind = kindOf(status);
    this.fieldErrors = this.kind === "invalid" ? parseFieldErrors(message) : {};
  }

  /** What to tell a person: the API's own words for input problems, a plain sentence otherwise. */
  get userMessage(): string {
    switch (this.kind) {
      case "invalid":
      case "conflict":
        return this.message;
      case "signed-out":
        return "Please sign in to continue.";
      case "forbidden":
        return "You are not allowed to do that.";
      case "not-found":
        return "We could not find that.";
      case "rate-limited":
        return "Too many requests; please wait a moment and try again.";
      case "unavailable":
        return "This part of the shop is unavailable right now. Please try again shortly.";
      default:
        return "Something went wrong. Please try again.";
    }
  }
}

export function kindOf(status: number): ErrorKind {
  if (status === 0 || status === 502 || status === 503 || status === 504) return "unavailable";
  if (status === 400 || status === 413 || status === 422) return "invalid";
  const byStatus: Record<number, ErrorKind> = {
    401: "signed-out",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    429: "rate-limited",
  };
  return byStatus[status] ?? "failed";
}

/** "price: Input should be a number; shipping_address.city: Field required" -> {price: ..., ...}. */
export function parseFieldErrors(message: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of message.split("; ")) {
    const match = /^([A-Za-z_][\w.]*): (.+)$/.exec(part.trim());
    if (match) fields[match[1]] = match[2];
  }
  return fields;
}

/** The error of any failed call: an ApiError from an answer, or "unavailable" when none came. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object" && "error" in body && typeof body.error === "string") {
      message = body.error;
    }
  } catch {
    // Not JSON (e.g. a proxy's error page): keep the status text.
  }
  return new ApiError(response.status, message);
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, error instanceof Error ? error.message : String(error));
}
