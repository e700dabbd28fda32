import { cartLines, cartTotals, quantityChange } from "./cartMath";

test("the API's cart object becomes lines ordered by item id", () => {
  const lines = cartLines({ "10": { product_id: 3, quantity: 1 }, "2": { product_id: 7, quantity: 4 } });
  expect(lines).toEqual([
    { itemId: "2", productId: 7, quantity: 4 },
    { itemId: "10", productId: 3, quantity: 1 },
  ]);
});

test("totals add up in cents and count unpriced lines", () => {
  const lines = cartLines({ "1": { product_id: 1, quantity: 3 }, "2": { product_id: 2, quantity: 1 }, "3": { product_id: 9, quantity: 2 } });
  const products = new Map([
    [1, { price: 0.1 }],
    [2, { price: 19.99 }],
  ]);
  expect(cartTotals(lines, products)).toEqual({ itemCount: 6, subtotalCents: 2029, unpriced: 1 });
});

test("a quantity change is an add, or a removal and a re-add", () => {
  expect(quantityChange(2, 5)).toEqual({ remove: false, add: 3 });
  expect(quantityChange(5, 2)).toEqual({ remove: true, add: 2 });
  expect(quantityChange(3, 0)).toEqual({ remove: true, add: 0 });
  expect(quantityChange(3, 3)).toEqual({ remove: false, add: 0 });
  expect(() => quantityChange(1, -1)).toThrow(RangeError);
  expect(() => quantityChange(1, 1.5)).toThrow(RangeError);
});
