import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data, nextPageToken } from "../api/client";
import { Panel } from "../shared/Panel";
import { ProductCard } from "../shared/ProductCard";
import { useTitle } from "../shared/useTitle";
import { Facets } from "./Facets";
import { filterQuery, parseFilters } from "./filters";
import { SORTS, parseSort, type SortKey } from "./sort";

const PAGE_SIZE = 12;

export default function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const sort = parseSort(params.get("sort"));
  const page = params.get("page") ?? "";
  const category = Number(params.get("category") ?? 0) || null;
  const filters = parseFilters(params);
  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]); // Back/Forward change the URL: the box follows it
  useTitle(q ? `Search: ${q}` : "Catalog");

  const categories = useQuery({
    queryKey: ["categories"],
    queryFn: async () => data(await api.GET("/api/catalog/categories/")).categories,
    staleTime: 5 * 60_000,
  });
  const products = useQuery({
    queryKey: ["catalog", q, sort, category, filters, page],
    queryFn: async () => {
      const result = await api.GET("/api/catalog/products/", {
        params: { query: { q, sort, category, ...filterQuery(filters), facets: true, page_size: PAGE_SIZE, page_token: page } },
      });
      return { ...data(result), next: nextPageToken(result.response) };
    },
    placeholderData: keepPreviousData,
  });

  function update(changes: Record<string, string>) {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    setParams(next);
  }

  function search(event: FormEvent) {
    event.preventDefault();
    update({ q: draft.trim(), page: "" });
  }

  return (
    <>
      <h1>{q ? `Results for “${q}”` : "Catalog"}</h1>
      <div className="toolbar">
        <form role="search" onSubmit={search} className="search">
          <label htmlFor="catalog-search">Search products</label>
          <input id="catalog-search" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button type="submit">Search</button>
        </form>
        <div className="field inline">
          <label htmlFor="catalog-category">Category</label>
          <select id="catalog-category" value={category ?? ""} onChange={(e) => update({ category: e.target.value, page: "" })}>
            <option value="">All categories</option>
            {(categories.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {"\u00a0\u00a0".repeat(c.ancestor_ids.length)}
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field inline">
          <label htmlFor="catalog-sort">Sort by</label>
          <select id="catalog-sort" value={sort} onChange={(e) => update({ sort: e.target.value === "relevance" ? "" : (e.target.value as SortKey), page: "" })}>
            {Object.entries(SORTS).map(([key, label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <Facets
        facets={products.data?.facets ?? null}
        categories={categories.data ?? []}
        category={category}
        filters={filters}
        onChange={(changes) => update({ ...changes, page: "" })}
      />
      <Panel
        title="Products"
        hideTitle
        query={products}
        isEmpty={(result) => result.products.length === 0}
        empty={q ? `No products match “${q}”.` : "The catalog is empty."}
      >
        {(result) => (
          <>
            <p className="muted" aria-live="polite">
              {result.total} {result.total === 1 ? "product" : "products"}
              {result.corrected_query && ` (showing results for “${result.corrected_query}”)`}
            </p>
            <div className="product-grid">
              {result.products.map((product) => (
                <ProductCard key={product.id} product={product} />
              ))}
            </div>
            <nav aria-label="Pages" className="pager">
              {page && <Link to={`?${withParams(params, { page: "" })}`}>First page</Link>}
              {result.next && <Link to={`?${withParams(params, { page: result.next })}`}>Next page</Link>}
            </nav>
          </>
        )}
      </Panel>
    </>
  );
}

function withParams(params: URLSearchParams, changes: Record<string, string>): string {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  return next.toString();
}
