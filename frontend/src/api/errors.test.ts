import { ApiError, errorFromResponse, kindOf, parseFieldErrors, toApiError } from "./errors";

test("statuses map to what a person is told", () => {
  expect(kindOf(400)).toBe("invalid");
  expect(kindOf(401)).toBe("signed-out");
  expect(kindOf(403)).toBe("forbidden");
  expect(kindOf(404)).toBe("not-found");
  expect(kindOf(409)).toBe("conflict");
  expect(kindOf(503)).toBe("unavailable");
  expect(kindOf(0)).toBe("unavailable");
  expect(kindOf(500)).toBe("failed");
  expect(new ApiError(503, "reviews service unavailable").userMessage).toMatch(/unavailable right now/);
  expect(new ApiError(409, "card declined").userMessage).toBe("card declined");
});

test("the gateway's validation message is split per field", () => {
  expect(parseFieldErrors("rating: Input should be less than or equal to 5; shipping_address.city: Field required")).toEqual({
    rating: "Input should be less than or equal to 5",
    "shipping_address.city": "Field required",
  });
  expect(parseFieldErrors("invalid request")).toEqual({});
  expect(new ApiError(400, "email: value is not a valid email").fieldErrors).toEqual({ email: "value is not a valid email" });
  expect(new ApiError(409, "email: taken").fieldErrors).toEqual({});
});

test("an answer's JSON error becomes the message; a non-JSON answer keeps its status", async () => {
  const json = await errorFromResponse(new Response(JSON.stringify({ error: "Product not found" }), { status: 404 }));
  expect(json).toMatchObject({ status: 404, kind: "not-found", message: "Product not found" });
  const html = await errorFromResponse(new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
  expect(html).toMatchObject({ status: 502, kind: "unavailable", message: "Bad Gateway" });
  expect(toApiError(new TypeError("Failed to fetch")).kind).toBe("unavailable");
});
