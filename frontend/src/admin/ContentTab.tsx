// Posts (draft, publish now, schedule, unpublish) and banners (add, switch on/off, delete).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { Field, FormError, TextAreaField } from "../shared/Field";
import { Panel } from "../shared/Panel";

type Post = { id: number; slug: string; title: string; status: "draft" | "published"; publish_time?: string | null };

function postState(post: Post, now: number): string {
  if (post.status === "draft") return "draft";
  const at = post.publish_time ? Date.parse(post.publish_time) : 0;
  return at > now ? `scheduled for ${new Date(at).toLocaleString()}` : "published";
}

/** A datetime-local value (the admin's local time) as an RFC 3339 instant; "" when unset. */
export function localToIso(value: string): string {
  return value ? new Date(value).toISOString() : "";
}

function PostRow({ post }: { post: Post }) {
  const client = useQueryClient();
  const [when, setWhen] = useState("");
  const refresh = () => Promise.all([client.invalidateQueries({ queryKey: ["admin-posts"] }), client.invalidateQueries({ queryKey: ["posts"] })]);
  const publish = useMutation({
    mutationFn: async (at: string) =>
      data(await api.POST("/api/posts/{ref}/publish", { params: { path: { ref: String(post.id) } }, body: at ? { publish_time: at } : {} })),
    onSuccess: refresh,
  });
  const unpublish = useMutation({
    mutationFn: async () => data(await api.POST("/api/posts/{ref}/unpublish", { params: { path: { ref: String(post.id) } } })),
    onSuccess: refresh,
  });
  const state = postState(post, Date.now());
  const failure = publish.error ?? unpublish.error;
  return (
    <li className="admin-post">
      <p>
        <strong>{post.title}</strong>: <span>{state}</span>
      </p>
      {post.status === "draft" ? (
        <form
          className="qty-form"
          onSubmit={(e) => {
            e.preventDefault();
            publish.mutate(localToIso(when));
          }}
        >
          <label htmlFor={`when-${post.id}`}>Publish at (empty: now)</label>
          <input id={`when-${post.id}`} type="datetime-local" step={1} value={when} onChange={(e) => setWhen(e.target.value)} />
          <button type="submit" disabled={publish.isPending}>
            {when ? "Schedule" : "Publish"}
            <span className="visually-hidden"> {post.title}</span>
          </button>
        </form>
      ) : (
        <button type="button" onClick={() => unpublish.mutate()} disabled={unpublish.isPending}>
          Back to draft<span className="visually-hidden"> {post.title}</span>
        </button>
      )}
      <FormError message={failure ? toApiError(failure).userMessage : null} />
    </li>
  );
}

function Posts() {
  const client = useQueryClient();
  const [values, setValues] = useState({ title: "", body: "" });
  const [error, setError] = useState<string>();
  const posts = useQuery({
    queryKey: ["admin-posts"],
    queryFn: async () => data(await api.GET("/api/posts/", { params: { query: { include_drafts: true, page_size: 100 } } })),
  });
  const create = useMutation({
    mutationFn: async () => data(await api.POST("/api/posts/", { body: { title: values.title.trim(), body_markdown: values.body } })),
    onSuccess: () => {
      setValues({ title: "", body: "" });
      return client.invalidateQueries({ queryKey: ["admin-posts"] });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    setError(values.title.trim() ? undefined : "Enter a title.");
    if (values.title.trim()) create.mutate();
  }
  return (
    <>
      <form onSubmit={submit} noValidate className="narrow" aria-labelledby="new-post-title">
        <h3 id="new-post-title">New post</h3>
        <Field label="Title" value={values.title} error={error} onChange={(e) => setValues({ ...values, title: e.target.value })} />
        <TextAreaField label="Text (Markdown)" rows={5} value={values.body} onChange={(e) => setValues({ ...values, body: e.target.value })} />
        <FormError message={create.isError ? toApiError(create.error).userMessage : null} />
        <button type="submit" disabled={create.isPending}>
          Save draft
        </button>
        <div aria-live="polite">{create.isSuccess && <p className="notice success">Draft {create.data.title} saved.</p>}</div>
      </form>
      <Panel title="Posts" query={posts} isEmpty={(l) => l.length === 0} empty="No posts yet.">
        {(list) => (
          <ul className="plain-list">
            {list.map((post) => (
              <PostRow key={`${post.id}-${post.status}-${post.publish_time ?? ""}`} post={post} />
            ))}
          </ul>
        )}
      </Panel>
    </>
  );
}

function Banners() {
  const client = useQueryClient();
  const [values, setValues] = useState({ title: "", image: "", link: "" });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const banners = useQuery({
    queryKey: ["admin-banners"],
    queryFn: async () => data(await api.GET("/api/banners/", { params: { query: { include_inactive: true, page_size: 100 } } })),
  });
  const refresh = () => Promise.all([client.invalidateQueries({ queryKey: ["admin-banners"] }), client.invalidateQueries({ queryKey: ["banners"] })]);
  const create = useMutation({
    mutationFn: async () =>
      data(await api.POST("/api/banners/", { body: { title: values.title.trim(), image_url: values.image.trim(), link_url: values.link.trim(), placement: "home" } })),
    onSuccess: () => {
      setValues({ title: "", image: "", link: "" });
      return refresh();
    },
    onError: (error) => setErrors(toApiError(error).fieldErrors),
  });
  const toggle = useMutation({
    mutationFn: async ({ id, active }: { id: number; active: boolean }) => data(await api.PUT("/api/banners/{id}", { params: { path: { id } }, body: { active } })),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: async (id: number) => data(await api.DELETE("/api/banners/{id}", { params: { path: { id } } })),
    onSuccess: refresh,
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const found: Record<string, string | undefined> = {};
    if (!values.title.trim()) found.title = "Enter a title.";
    if (!/^https?:\/\/\S+$/.test(values.image.trim())) found.image_url = "Enter an image address starting with https://.";
    setErrors(found);
    if (!Object.values(found).some(Boolean)) create.mutate();
  }
  const failure = toggle.error ?? remove.error;
  return (
    <>
      <form onSubmit={submit} noValidate className="narrow" aria-labelledby="new-banner-title">
        <h3 id="new-banner-title">New banner</h3>
        <Field label="Banner title" value={values.title} error={errors.title} onChange={(e) => setValues({ ...values, title: e.target.value })} />
        <Field label="Image address" value={values.image} error={errors.image_url} onChange={(e) => setValues({ ...values, image: e.target.value })} />
        <Field label="Link (optional)" value={values.link} error={errors.link_url} onChange={(e) => setValues({ ...values, link: e.target.value })} />
        <FormError message={create.isError && !Object.keys(toApiError(create.error).fieldErrors).length ? toApiError(create.error).userMessage : null} />
        <button type="submit" disabled={create.isPending}>
          Add banner
        </button>
      </form>
      <FormError message={failure ? toApiError(failure).userMessage : null} />
      <Panel title="Banners" query={banners} isEmpty={(l) => l.length === 0} empty="No banners yet.">
        {(list) => (
          <ul className="plain-list">
            {list.map((b) => (
              <li key={b.id}>
                <strong>{b.title || b.image_url}</strong> ({b.placement}, {b.active ? "shown" : "switched off"}){" "}
                <button type="button" onClick={() => toggle.mutate({ id: b.id, active: !b.active })} disabled={toggle.isPending}>
                  {b.active ? "Switch off" : "Switch on"}
                  <span className="visually-hidden"> {b.title}</span>
                </button>{" "}
                <button type="button" className="danger" onClick={() => remove.mutate(b.id)} disabled={remove.isPending}>
                  Delete<span className="visually-hidden"> banner {b.title}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </Panel>
    </>
  );
}

export default function ContentTab() {
  return (
    <div className="admin-columns">
      <section aria-labelledby="posts-heading">
        <h2 id="posts-heading">Blog posts</h2>
        <Posts />
      </section>
      <section aria-labelledby="banners-heading">
        <h2 id="banners-heading">Banners</h2>
        <Banners />
      </section>
    </div>
  );
}
