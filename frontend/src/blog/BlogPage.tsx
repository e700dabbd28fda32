import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, data } from "../api/client";
import { Panel } from "../shared/Panel";
import { useTitle } from "../shared/useTitle";

export default function BlogPage() {
  useTitle("Blog");
  const posts = useQuery({ queryKey: ["posts"], queryFn: async () => data(await api.GET("/api/posts/", { params: { query: { page_size: 20 } } })) });
  return (
    <>
      <h1>Blog</h1>
      <Panel title="Posts" hideTitle query={posts} isEmpty={(list) => list.length === 0} empty="No posts yet.">
        {(list) => (
          <ul className="posts">
            {list.map((post) => (
              <li key={post.id}>
                <h2>
                  <Link to={`/blog/${post.slug}`}>{post.title}</Link>
                </h2>
                <p className="muted">
                  {post.author_name && `By ${post.author_name}`}
                  {post.publish_time && (
                    <>
                      {" "}
                      on <time dateTime={post.publish_time}>{new Date(post.publish_time).toLocaleDateString()}</time>
                    </>
                  )}
                </p>
              </li>
            ))}
          </ul>
        )}
      </Panel>
    </>
  );
}
