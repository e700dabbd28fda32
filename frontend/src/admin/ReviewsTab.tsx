// Review moderation: a product's reviews with their ids; hiding one takes it off the shop.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { Panel } from "../shared/Panel";

export default function ReviewsTab() {
  const [params, setParams] = useSearchParams();
  const productId = Number(params.get("product") ?? 0);
  const [draft, setDraft] = useState(productId ? String(productId) : "");
  const client = useQueryClient();
  const reviews = useQuery({
    queryKey: ["admin-reviews", productId],
    enabled: productId > 0,
    queryFn: async () => data(await api.GET("/api/products/{id}/reviews/", { params: { path: { id: productId }, query: { detail: true, page_size: 100 } } })),
  });
  const hide = useMutation({
    mutationFn: async ({ id, hidden }: { id: number; hidden: boolean }) =>
      data(await api.PUT("/api/admin/reviews/{id}/hidden", { params: { path: { id } }, body: { hidden } })),
    onSettled: () => Promise.all([client.invalidateQueries({ queryKey: ["admin-reviews"] }), client.invalidateQueries({ queryKey: ["reviews"] })]),
  });
  return (
    <>
      <form
        role="search"
        className="search"
        onSubmit={(e) => {
          e.preventDefault();
          setParams({ tab: "reviews", product: draft.trim() });
        }}
      >
        <label htmlFor="review-product">Product id</label>
        <input id="review-product" inputMode="numeric" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit">Show reviews</button>
      </form>
      {hide.isError && (
        <p role="alert" className="notice error">
          {toApiError(hide.error).userMessage}
        </p>
      )}
      {productId > 0 && (
        <Panel title={`Reviews of product ${productId}`} query={reviews} isEmpty={(l) => l.length === 0} empty="No visible reviews.">
          {(list) => (
            <ul className="reviews">
              {list.map((review) =>
                "id" in review ? (
                  <li key={review.id} className="review">
                    <p>
                      <strong>{review.rating} out of 5</strong> (review {review.id}): {review.comment}
                    </p>
                    <button type="button" onClick={() => hide.mutate({ id: review.id, hidden: true })} disabled={hide.isPending}>
                      Hide review {review.id}
                    </button>
                  </li>
                ) : null,
              )}
            </ul>
          )}
        </Panel>
      )}
    </>
  );
}

