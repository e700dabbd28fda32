// Client-side checks mirroring the API's rules, so a person sees the problem beside the field
// before sending; the server's answer is still shown beside the field when it disagrees.

export type Errors<T extends string> = Partial<Record<T, string>>;

export function validateCredentials(values: { email: string; password: string }, registering: boolean) {
  const errors: Errors<"email" | "password"> = {};
  if (!values.email.trim()) errors.email = "Enter your email address.";
  else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(values.email.trim())) errors.email = "Enter a valid email address, like name@example.com.";
  if (!values.password) errors.password = "Enter your password.";
  else if (registering && values.password.length < 8) errors.password = "Use at least 8 characters.";
  return errors;
}

export function validateReview(values: { rating: number | null; comment: string }) {
  const errors: Errors<"rating" | "comment"> = {};
  if (values.rating === null || values.rating < 1 || values.rating > 5) errors.rating = "Choose a rating from 1 to 5 stars.";
  if (values.comment.length > 2000) errors.comment = "Keep the review under 2000 characters.";
  return errors;
}

export interface AddressValues {
  name: string;
  line1: string;
  line2: string;
  city: string;
  region: string;
  postal_code: string;
  country: string;
  phone: string;
}

export const EMPTY_ADDRESS: AddressValues = {
  name: "",
  line1: "",
  line2: "",
  city: "",
  region: "",
  postal_code: "",
  country: "US",
  phone: "",
};

export function validateAddress(values: AddressValues) {
  const errors: Errors<keyof AddressValues> = {};
  if (!values.name.trim()) errors.name = "Enter the recipient's name.";
  if (!values.line1.trim()) errors.line1 = "Enter the street address.";
  if (!values.city.trim()) errors.city = "Enter the city.";
  if (!values.postal_code.trim()) errors.postal_code = "Enter the postal code.";
  if (!/^[A-Za-z]{2}$/.test(values.country.trim())) errors.country = "Use the two-letter country code, like US.";
  return errors;
}

/** Luhn check of a card number (digits and spaces). */
export function luhnValid(number: string): boolean {
  const digits = number.replace(/\s+/g, "");
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export interface CardValues {
  number: string;
  expiry: string; // MM/YY
  cvc: string;
}

export function parseExpiry(expiry: string): { month: number; year: number } | null {
  const match = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(expiry);
  if (!match) return null;
  const month = Number(match[1]);
  const year = match[2].length === 2 ? 2000 + Number(match[2]) : Number(match[2]);
  return month >= 1 && month <= 12 ? { month, year } : null;
}

export function validateCard(values: CardValues, today = new Date()) {
  const errors: Errors<keyof CardValues> = {};
  if (!luhnValid(values.number)) errors.number = "Enter a valid card number.";
  const expiry = parseExpiry(values.expiry);
  if (!expiry) errors.expiry = "Enter the expiry as MM/YY.";
  else if (expiry.year * 12 + expiry.month < today.getFullYear() * 12 + today.getMonth() + 1) errors.expiry = "This card has expired.";
  if (!/^\d{3,4}$/.test(values.cvc)) errors.cvc = "Enter the 3 or 4 digit security code.";
  return errors;
}

export function hasErrors(errors: object): boolean {
  return Object.values(errors).some(Boolean);
}
