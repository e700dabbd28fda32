import { useQuery } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";
import { ProductCard } from "../shared/ProductCard";
import { useProducts } from "../shared/queries";
import { useSession } from "../shared/session";

function ProductRow({ ids }: { ids: number[] }) {
  const products = useProducts(ids);
  return (
    <div className="product-grid">
      {products.map((result) => (result.data ? <ProductCard key={result.data.id} product={result.data} /> : null))}
    </div>
  );
}

export function AlsoViewed({ productId }: { productId: number }) {
  const related = useQuery({
    queryKey: ["also-viewed", productId],
    queryFn: async () =>
      data(await api.GET("/api/products/{id}/recommendations/", { params: { path: { id: productId }, query: { kind: "also_viewed", limit: 4 } } })),
  });
  return (
    <Panel title="Customers also viewed" query={related} isEmpty={(list) => list.length === 0} empty="Nothing to suggest yet.">
      {(list) => <ProductRow ids={list.map((r) => r.product_id)} />}
    </Panel>
  );
}

export function RecentlyViewed({ productId }: { productId: number }) {
  const session = useSession();
  const viewed = useQuery({
    queryKey: ["recently-viewed"],
    enabled: session !== null,
    queryFn: async () => data(await api.GET("/api/me/recently-viewed/", { params: { query: { page_size: 5 } } })),
  });
  if (!session) return null;
  return (
    <Panel
      title="Recently viewed"
      query={viewed}
      isEmpty={(list) => list.every((v) => v.product_id === productId)}
      empty="Products you look at show up here."
    >
      {(list) => <ProductRow ids={list.map((v) => v.product_id).filter((id) => id !== productId).slice(0, 4)} />}
    </Panel>
  );
}
