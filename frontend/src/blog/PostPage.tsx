import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";
import { useTitle } from "../shared/useTitle";

export default function PostPage() {
  const slug = useParams().slug ?? "";
  const post = useQuery({ queryKey: ["post", slug], queryFn: async () => data(await api.GET("/api/posts/{ref}", { params: { path: { ref: slug } } })) });
  useTitle(post.data?.title ?? "Blog");
  return (
    <>
      <h1>{post.data?.title ?? "Blog post"}</h1>
      <p>
        <Link to="/blog">All posts</Link>
      </p>
      <Panel title="Post" hideTitle query={post}>
        {(p) => (
          <article>
            {p.author_name && <p className="muted">By {p.author_name}</p>}
            {/* The one place HTML from the API is inserted: the server renders and sanitises body_html. */}
            <div className="post-body" dangerouslySetInnerHTML={{ __html: p.body_html }} />
          </article>
        )}
      </Panel>
    </>
  );
}
