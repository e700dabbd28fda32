import { luhnValid, parseExpiry, validateAddress, validateCard, validateCredentials, validateReview, EMPTY_ADDRESS } from "./validation";

test("credentials: email shape, and a long enough password when registering", () => {
  expect(validateCredentials({ email: "", password: "" }, false)).toEqual({ email: "Enter your email address.", password: "Enter your password." });
  expect(validateCredentials({ email: "nope", password: "short" }, true)).toMatchObject({ email: expect.stringMatching(/valid email/), password: "Use at least 8 characters." });
  expect(validateCredentials({ email: "a@b.co", password: "short" }, false)).toEqual({});
});

test("a review needs 1 to 5 stars", () => {
  expect(validateReview({ rating: null, comment: "" }).rating).toBeDefined();
  expect(validateReview({ rating: 6, comment: "" }).rating).toBeDefined();
  expect(validateReview({ rating: 4, comment: "nice" })).toEqual({});
});

test("an address needs its required parts and a two-letter country", () => {
  expect(Object.keys(validateAddress({ ...EMPTY_ADDRESS, country: "USA" })).sort()).toEqual(["city", "country", "line1", "name", "postal_code"]);
  expect(validateAddress({ ...EMPTY_ADDRESS, name: "Ada", line1: "1 Main St", city: "Springfield", postal_code: "12345" })).toEqual({});
});

test("cards: Luhn, expiry and CVC", () => {
  expect(luhnValid("4242 4242 4242 4242")).toBe(true);
  expect(luhnValid("4242 4242 4242 4241")).toBe(false);
  expect(parseExpiry("12/30")).toEqual({ month: 12, year: 2030 });
  expect(parseExpiry("13/30")).toBeNull();
  const today = new Date(2026, 11, 1);
  expect(validateCard({ number: "4242424242424242", expiry: "12/26", cvc: "123" }, today)).toEqual({});
  expect(validateCard({ number: "4242424242424242", expiry: "11/26", cvc: "1" }, today)).toEqual({ expiry: "This card has expired.", cvc: expect.any(String) });
});
