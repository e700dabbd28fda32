// The catalog's filters with the counts the API gives for the current search (each facet counted
// under every other filter, so a value's count is what choosing it shows).
import type { Schemas } from "../api/client";
import { formatPrice } from "../shared/money";
import { RATINGS, bandKey, type Filters } from "./filters";

type FacetCounts = Schemas["FacetsView"];
type Category = { id: number; name: string; ancestor_ids: number[] };

interface Props {
  facets: FacetCounts | null;
  categories: Category[];
  category: number | null;
  filters: Filters;
  onChange: (changes: Record<string, string>) => void;
}

function bandLabel(min: number, max: number | null | undefined): string {
  return max === null || max === undefined ? `${formatPrice(min)} and up` : `${formatPrice(min)} to ${formatPrice(max)}`;
}

export function Facets({ facets, categories, category, filters, onChange }: Props) {
  if (!facets) return null;
  const counts = new Map(facets.categories.map((c) => [c.category_id, c.count]));
  const shown = categories.filter((c) => counts.get(c.id) || c.id === category);
  return (
    <section aria-labelledby="filters-heading" className="facets">
      <h2 id="filters-heading" className="visually-hidden">
        Filters
      </h2>
      {shown.length > 0 && (
        <fieldset>
          <legend>Category</legend>
          <label>
            <input type="radio" name="facet-category" checked={category === null} onChange={() => onChange({ category: "" })} /> Any
          </label>
          {shown.map((c) => (
            <label key={c.id}>
              <input type="radio" name="facet-category" checked={category === c.id} onChange={() => onChange({ category: String(c.id) })} /> {c.name} ({counts.get(c.id) ?? 0})
            </label>
          ))}
        </fieldset>
      )}
      <fieldset>
        <legend>Price</legend>
        <label>
          <input type="radio" name="facet-price" checked={!filters.price} onChange={() => onChange({ price: "" })} /> Any price
        </label>
        {facets.price_bands.map((band) => {
          const key = bandKey(band.min, band.max);
          return (
            <label key={key}>
              <input type="radio" name="facet-price" checked={filters.price === key} onChange={() => onChange({ price: key })} /> {bandLabel(band.min, band.max)} ({band.count})
            </label>
          );
        })}
      </fieldset>
      <fieldset>
        <legend>Availability</legend>
        <label>
          <input type="checkbox" checked={filters.inStock} onChange={(e) => onChange({ in_stock: e.target.checked ? "1" : "" })} /> In stock only ({facets.in_stock})
        </label>
      </fieldset>
      <fieldset>
        <legend>Rating</legend>
        <label>
          <input type="radio" name="facet-rating" checked={filters.minRating === null} onChange={() => onChange({ rating: "" })} /> Any rating
        </label>
        {RATINGS.map((r) => (
          <label key={r}>
            <input type="radio" name="facet-rating" checked={filters.minRating === r} onChange={() => onChange({ rating: String(r) })} /> {r} {r === 1 ? "star" : "stars"} and up
          </label>
        ))}
      </fieldset>
    </section>
  );
}
