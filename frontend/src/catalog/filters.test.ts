import { describe, expect, it } from "vitest";
import { bandKey, filterQuery, parseFilters } from "./filters";

describe("catalog filters in the URL", () => {
  it("reads what the facet links wrote and turns it into the API's query", () => {
    const filters = parseFilters(new URLSearchParams(`price=${bandKey(10, 25)}&in_stock=1&rating=4`));
    expect(filters).toEqual({ price: "10-25", inStock: true, minRating: 4 });
    expect(filterQuery(filters)).toEqual({ min_price: 10, max_price: 25, in_stock: true, min_rating: 4 });
  });

  it("leaves the open top band without a maximum", () => {
    expect(filterQuery(parseFilters(new URLSearchParams(`price=${bandKey(100, null)}`)))).toEqual({ min_price: 100 });
  });

  it("ignores values a hand-edited URL may carry", () => {
    expect(parseFilters(new URLSearchParams("price=cheap&in_stock=yes&rating=9"))).toEqual({ price: "", inStock: false, minRating: null });
    expect(filterQuery(parseFilters(new URLSearchParams("")))).toEqual({});
  });
});
