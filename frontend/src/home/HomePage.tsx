import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";
import { ProductCard } from "../shared/ProductCard";
import { useProducts } from "../shared/queries";
import { useTitle } from "../shared/useTitle";

function Banners() {
  const banners = useQuery({
    queryKey: ["banners"],
    queryFn: async () => data(await api.GET("/api/banners/", { params: { query: { page_size: 5 } } })),
  });
  return (
    <Panel title="Offers" query={banners} isEmpty={(list) => list.length === 0} empty="No offers right now.">
      {(list) => (
        <ul className="banners">
          {list.map((banner) => (
            <li key={banner.id} className="banner">
              {/* Banner links come from staff; only same-site paths and http(s) are followed. */}
              {/^(\/|https?:\/\/)/.test(banner.link_url) ? <a href={banner.link_url}>{banner.title}</a> : <span>{banner.title}</span>}
            </li>
          ))}
        </ul>
      )}
    </Panel>
  );
}

function Popular() {
  const popular = useQuery({
    queryKey: ["popular"],
    queryFn: async () => data(await api.GET("/api/products/popular/", { params: { query: { type: "all", page_size: 8 } } })),
  });
  const products = useProducts(popular.data?.map((p) => p.product_id) ?? []);
  return (
    <Panel
      title="Popular now"
      query={popular}
      isEmpty={(list) => list.length === 0}
      empty={
        <>
          Nothing is trending yet. <Link to="/products">Browse the catalog</Link>.
        </>
      }
    >
      {() => (
        <div className="product-grid">
          {products.map((result) => (result.data ? <ProductCard key={result.data.id} product={result.data} /> : null))}
        </div>
      )}
    </Panel>
  );
}

export default function HomePage() {
  useTitle("Home");
  return (
    <>
      <h1>Welcome to the shop</h1>
      <p>
        <Link to="/products">Browse the catalog</Link> or read <Link to="/blog">the blog</Link>.
      </p>
      <Banners />
      <Popular />
    </>
  );
}
