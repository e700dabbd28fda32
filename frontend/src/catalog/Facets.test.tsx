import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Facets } from "./Facets";

const facets = {
  categories: [{ category_id: 7, count: 2 }],
  price_bands: [
    { min: 0, max: 9.99, count: 1 },
    { min: 500, max: null, count: 0 },
  ],
  in_stock: 3,
  out_of_stock: 1,
};
const categories = [
  { id: 7, name: "Mugs", ancestor_ids: [] },
  { id: 8, name: "Lamps", ancestor_ids: [] }, // no matches: not offered
];

describe("catalog facets", () => {
  it("offers each value with the count the API gave, and reports a choice as URL changes", async () => {
    const onChange = vi.fn();
    render(<Facets facets={facets} categories={categories} category={null} filters={{ price: "", inStock: false, minRating: null }} onChange={onChange} />);
    expect(screen.getByRole("radio", { name: "Mugs (2)" })).toBeInTheDocument();
    expect(screen.queryByRole("radio", { name: /Lamps/ })).toBeNull();
    expect(screen.getByRole("radio", { name: "$500.00 and up (0)" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("radio", { name: "$0.00 to $9.99 (1)" }));
    expect(onChange).toHaveBeenLastCalledWith({ price: "0-9.99" });
    await userEvent.click(screen.getByRole("checkbox", { name: "In stock only (3)" }));
    expect(onChange).toHaveBeenLastCalledWith({ in_stock: "1" });
    await userEvent.click(screen.getByRole("radio", { name: "4 stars and up" }));
    expect(onChange).toHaveBeenLastCalledWith({ rating: "4" });
  });

  it("shows the chosen filters as checked", () => {
    render(<Facets facets={facets} categories={categories} category={7} filters={{ price: "500-", inStock: true, minRating: 1 }} onChange={() => {}} />);
    expect(screen.getByRole("radio", { name: "Mugs (2)" })).toBeChecked();
    expect(screen.getByRole("radio", { name: "$500.00 and up (0)" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "In stock only (3)" })).toBeChecked();
    expect(screen.getByRole("radio", { name: "1 star and up" })).toBeChecked();
  });
});
