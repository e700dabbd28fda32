// The catalog's facet filters as they live in the URL (?price=10-25&in_stock=1&rating=4), so a
// reload or Back restores them, and as the catalog API's query parameters.

export interface Filters {
  /** A price band "min-max" (max empty for the open top band), as the facet counts give it. */
  price: string;
  inStock: boolean;
  minRating: number | null;
}

export const RATINGS = [4, 3, 2, 1] as const;

export function parseFilters(params: URLSearchParams): Filters {
  const price = params.get("price") ?? "";
  const rating = Number(params.get("rating"));
  return {
    price: /^\d+(\.\d+)?-(\d+(\.\d+)?)?$/.test(price) ? price : "",
    inStock: params.get("in_stock") === "1",
    minRating: RATINGS.includes(rating as (typeof RATINGS)[number]) ? rating : null,
  };
}

export function bandKey(min: number, max: number | null | undefined): string {
  return `${min}-${max ?? ""}`;
}

export function filterQuery(filters: Filters): { min_price?: number; max_price?: number; in_stock?: boolean; min_rating?: number } {
  const query: { min_price?: number; max_price?: number; in_stock?: boolean; min_rating?: number } = {};
  if (filters.price) {
    const [min, max] = filters.price.split("-");
    query.min_price = Number(min);
    if (max) query.max_price = Number(max);
  }
  if (filters.inStock) query.in_stock = true;
  if (filters.minRating !== null) query.min_rating = filters.minRating;
  return query;
}
