// Prices come from the API as numbers in the shop's currency with at most 2 decimals; all sums are
// done in integer cents so that 0.1 + 0.2 stays 0.30.

export const CURRENCY = "USD";

export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

export function formatMoney(cents: number, currency: string = CURRENCY, locale = "en-US"): string {
  return new Intl.NumberFormat(locale, { style: "currency", currency }).format(cents / 100);
}

/** An API amount (a number in the currency) formatted. */
export function formatPrice(amount: number, currency: string = CURRENCY): string {
  return formatMoney(toCents(amount), currency);
}
