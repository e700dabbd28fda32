import { formatMoney, formatPrice, toCents } from "./money";

test("amounts become whole cents without float drift", () => {
  expect(toCents(0.1 + 0.2)).toBe(30);
  expect(toCents(19.99)).toBe(1999);
  expect(toCents(1.005)).toBe(100);
});

test("money is formatted in the shop's currency", () => {
  expect(formatMoney(1999)).toBe("$19.99");
  expect(formatMoney(0)).toBe("$0.00");
  expect(formatMoney(123456789)).toBe("$1,234,567.89");
  expect(formatPrice(12.5)).toBe("$12.50");
  expect(formatMoney(1000, "EUR", "de-DE")).toBe("10,00\u00a0€");
});
