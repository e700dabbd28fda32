export const SORTS = {
  relevance: "Best match",
  price_asc: "Price: low to high",
  price_desc: "Price: high to low",
  name: "Name: A to Z",
  rating: "Best rated",
  newest: "Newest",
  popularity: "Most popular",
} as const;
export type SortKey = keyof typeof SORTS;

export function parseSort(value: string | null): SortKey {
  return value && value in SORTS ? (value as SortKey) : "relevance";
}
