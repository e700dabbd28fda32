import { toCents } from "./money";

export interface CartLine {
  itemId: string;
  productId: number;
  quantity: number;
}

export interface PricedProduct {
  price: number;
}

export interface CartTotals {
  itemCount: number;
  subtotalCents: number;
  /** Lines whose product could not be priced (e.g. removed from the catalog). */
  unpriced: number;
}

/** The cart's lines as the API gives them ({item_id: {product_id, quantity}}), in a stable order. */
export function cartLines(contents: Record<string, { product_id: number; quantity: number }>): CartLine[] {
  return Object.entries(contents)
    .map(([itemId, line]) => ({ itemId, productId: line.product_id, quantity: line.quantity }))
    .sort((a, b) => Number(a.itemId) - Number(b.itemId) || a.itemId.localeCompare(b.itemId));
}

export function lineTotalCents(price: number, quantity: number): number {
  return toCents(price) * quantity;
}

export function cartTotals(lines: CartLine[], products: Map<number, PricedProduct | undefined>): CartTotals {
  let itemCount = 0;
  let subtotalCents = 0;
  let unpriced = 0;
  for (const line of lines) {
    itemCount += line.quantity;
    const product = products.get(line.productId);
    if (product) subtotalCents += lineTotalCents(product.price, line.quantity);
    else unpriced += 1;
  }
  return { itemCount, subtotalCents, unpriced };
}

/** The calls that take a line from `current` to `wanted` units (the API only adds and removes lines). */
export function quantityChange(current: number, wanted: number): { remove: boolean; add: number } {
  if (!Number.isInteger(wanted) || wanted < 0) throw new RangeError("quantity must be a whole number ≥ 0");
  if (wanted === current) return { remove: false, add: 0 };
  if (wanted > current) return { remove: false, add: wanted - current };
  return { remove: true, add: wanted };
}
