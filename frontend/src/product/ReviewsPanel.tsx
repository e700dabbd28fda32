import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { api, data, nextPageToken } from "../api/client";
import { toApiError } from "../api/errors";
import { FormError, SelectField, TextAreaField } from "../shared/Field";
import { Panel } from "../shared/Panel";
import { keys } from "../shared/queries";
import { useSession } from "../shared/session";
import { hasErrors, validateReview } from "../shared/validation";

type Sort = "newest" | "highest" | "lowest";
const PAGE = 5;

function ReviewForm({ productId }: { productId: number }) {
  const client = useQueryClient();
  const [rating, setRating] = useState<number | null>(null);
  const [comment, setComment] = useState("");
  const [errors, setErrors] = useState<ReturnType<typeof validateReview>>({});
  const post = useMutation({
    mutationFn: async () => data(await api.POST("/api/products/{id}/reviews/", { params: { path: { id: productId } }, body: { rating: rating ?? 0, comment } })),
    onSuccess: async () => {
      setRating(null);
      setComment("");
      await Promise.all([
        client.invalidateQueries({ queryKey: ["reviews", productId] }),
        client.invalidateQueries({ queryKey: keys.product(productId) }),
      ]);
    },
    onError: (error) => setErrors(toApiError(error).fieldErrors),
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    const found = validateReview({ rating, comment });
    setErrors(found);
    if (!hasErrors(found)) post.mutate();
  }

  const serverError = post.isError && !hasErrors(toApiError(post.error).fieldErrors) ? toApiError(post.error).userMessage : null;
  return (
    <form onSubmit={submit} noValidate aria-labelledby="review-form-title" className="review-form">
      <h3 id="review-form-title">Write a review</h3>
      <SelectField label="Rating" value={rating ?? ""} error={errors.rating} onChange={(e) => setRating(e.target.value ? Number(e.target.value) : null)}>
        <option value="">Choose…</option>
        {[5, 4, 3, 2, 1].map((n) => (
          <option key={n} value={n}>
            {n} {n === 1 ? "star" : "stars"}
          </option>
        ))}
      </SelectField>
      <TextAreaField label="Your review" value={comment} error={errors.comment} rows={3} onChange={(e) => setComment(e.target.value)} />
      <FormError message={serverError} />
      <button type="submit" disabled={post.isPending}>
        {post.isPending ? "Posting…" : "Post review"}
      </button>
      <div aria-live="polite">{post.isSuccess && <p className="notice success">Thank you, your review is posted.</p>}</div>
    </form>
  );
}

export function ReviewsPanel({ productId }: { productId: number }) {
  const session = useSession();
  const [sort, setSort] = useState<Sort>("newest");
  const reviews = useInfiniteQuery({
    queryKey: ["reviews", productId, sort],
    initialPageParam: "",
    queryFn: async ({ pageParam }) => {
      const result = await api.GET("/api/products/{id}/reviews/", {
        params: { path: { id: productId }, query: { sort, page_size: PAGE, page_token: pageParam, detail: true } },
      });
      return { items: data(result), next: nextPageToken(result.response) };
    },
    getNextPageParam: (last) => last.next ?? undefined,
  });

  return (
    <>
      <Panel title="Reviews" query={reviews} isEmpty={(d) => d.pages[0].items.length === 0} empty="No reviews yet. Be the first to write one.">
        {(d) => (
          <>
            <div className="field inline">
              <label htmlFor="review-sort">Sort reviews</label>
              <select id="review-sort" value={sort} onChange={(e) => setSort(e.target.value as Sort)}>
                <option value="newest">Newest</option>
                <option value="highest">Highest rated</option>
                <option value="lowest">Lowest rated</option>
              </select>
            </div>
            <ul className="reviews" aria-label="Reviews">
              {d.pages.flatMap((page, p) =>
                page.items.map((review, i) => (
                  <li key={"id" in review ? review.id : `${p}-${i}`} className="review">
                    <p>
                      <strong>{review.rating} out of 5</strong>
                      {"verified_purchase" in review && review.verified_purchase && <span className="badge">Verified purchase</span>}
                    </p>
                    {review.comment && <p>{review.comment}</p>}
                  </li>
                )),
              )}
            </ul>
            {reviews.hasNextPage && (
              <button type="button" onClick={() => void reviews.fetchNextPage()} disabled={reviews.isFetchingNextPage}>
                {reviews.isFetchingNextPage ? "Loading…" : "More reviews"}
              </button>
            )}
          </>
        )}
      </Panel>
      {session ? (
        <ReviewForm productId={productId} />
      ) : (
        <p>
          <Link to={`/signin?next=/products/${productId}`}>Sign in to write a review</Link>.
        </p>
      )}
    </>
  );
}
