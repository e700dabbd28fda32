import type { CardProduct } from "../shared/ProductCard";

export const SORTS = {
  relevance: "Featured",
  price_asc: "Price: low to high",
  price_desc: "Price: high to low",
  name: "Name: A to Z",
  rating: "Best rated",
} as const;
export type SortKey = keyof typeof SORTS;

export function parseSort(value: string | null): SortKey {
  return value && value in SORTS ? (value as SortKey) : "relevance";
}

// The products API has no sort parameter yet (the catalog issue adds one): the page is sorted here.
export function sortProducts<T extends CardProduct>(products: T[], sort: SortKey): T[] {
  const sorted = [...products];
  const byId = (a: T, b: T) => a.id - b.id;
  switch (sort) {
    case "price_asc":
      return sorted.sort((a, b) => a.price - b.price || byId(a, b));
    case "price_desc":
      return sorted.sort((a, b) => b.price - a.price || byId(a, b));
    case "name":
      return sorted.sort((a, b) => a.name.localeCompare(b.name) || byId(a, b));
    case "rating":
      return sorted.sort((a, b) => (b.rating?.average ?? 0) - (a.rating?.average ?? 0) || byId(a, b));
    default:
      return sorted.sort(byId);
  }
}
