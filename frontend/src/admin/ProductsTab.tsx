// Products: create, set stock, edit (name, price, description, categories, images), delete.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { Field, FormError, SelectField, TextAreaField } from "../shared/Field";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";

function NewProduct() {
  const client = useQueryClient();
  const [values, setValues] = useState({ name: "", price: "", stock: "0", description: "" });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const create = useMutation({
    mutationFn: async () =>
      data(await api.POST("/api/products/", { body: { name: values.name.trim(), price: Number(values.price), stock: Number(values.stock), description: values.description } })),
    onSuccess: () => {
      setValues({ name: "", price: "", stock: "0", description: "" });
      return client.invalidateQueries({ queryKey: ["admin-products"] });
    },
    onError: (error) => setErrors(toApiError(error).fieldErrors),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const found: Record<string, string | undefined> = {};
    if (!values.name.trim()) found.name = "Enter a name.";
    if (!/^\d+(\.\d{1,2})?$/.test(values.price)) found.price = "Enter a price like 12.50.";
    if (!/^\d+$/.test(values.stock)) found.stock = "Enter a whole number of units.";
    setErrors(found);
    if (!Object.values(found).some(Boolean)) create.mutate();
  }
  return (
    <form onSubmit={submit} noValidate className="narrow" aria-labelledby="new-product-title">
      <h3 id="new-product-title">New product</h3>
      <Field label="Name" value={values.name} error={errors.name} onChange={(e) => setValues({ ...values, name: e.target.value })} />
      <Field label="Price" inputMode="decimal" value={values.price} error={errors.price} onChange={(e) => setValues({ ...values, price: e.target.value })} />
      <Field label="Stock" inputMode="numeric" value={values.stock} error={errors.stock} onChange={(e) => setValues({ ...values, stock: e.target.value })} />
      <Field label="Description" value={values.description} error={errors.description} onChange={(e) => setValues({ ...values, description: e.target.value })} />
      <FormError message={create.isError && !Object.keys(toApiError(create.error).fieldErrors).length ? toApiError(create.error).userMessage : null} />
      <button type="submit" disabled={create.isPending}>
        Create product
      </button>
      <div aria-live="polite">{create.isSuccess && <p className="notice success">Product {create.data.id} created.</p>}</div>
    </form>
  );
}

function ProductRow({ id, name, price, stock }: { id: number; name: string; price: number; stock: number }) {
  const client = useQueryClient();
  const [draft, setDraft] = useState(String(stock));
  const save = useMutation({
    mutationFn: async () => data(await api.PUT("/api/products/{id}", { params: { path: { id } }, body: { stock: Number(draft) } })),
    onSettled: () => client.invalidateQueries({ queryKey: ["admin-products"] }),
  });
  const remove = useMutation({
    mutationFn: async () => data(await api.DELETE("/api/products/{id}", { params: { path: { id } } })),
    onSettled: () => client.invalidateQueries({ queryKey: ["admin-products"] }),
  });
  return (
    <tr>
      <td>{id}</td>
      <th scope="row">
        <Link to={`/products/${id}`}>{name}</Link>
      </th>
      <td>{formatPrice(price)}</td>
      <td>
        <form
          className="qty-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (/^\d+$/.test(draft)) save.mutate();
          }}
        >
          <label htmlFor={`stock-${id}`} className="visually-hidden">
            Stock of {name}
          </label>
          <input id={`stock-${id}`} inputMode="numeric" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <button type="submit" disabled={save.isPending}>
            Set stock<span className="visually-hidden"> of {name}</span>
          </button>
        </form>
        {(save.isError || remove.isError) && (
          <p role="alert" className="field-error">
            {toApiError(save.error ?? remove.error).userMessage}
          </p>
        )}
      </td>
      <td>
        <Link to={`/admin?tab=products&product=${id}`}>
          Edit<span className="visually-hidden"> {name}</span>
        </Link>{" "}
        <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
          Delete<span className="visually-hidden"> {name}</span>
        </button>
      </td>
    </tr>
  );
}

type Category = { id: number; name: string; ancestor_ids: number[] };

function useCategories() {
  return useQuery({
    queryKey: ["categories"],
    queryFn: async (): Promise<Category[]> => data(await api.GET("/api/catalog/categories/")).categories,
  });
}

/** Name, price, description, status, categories and one image of a product (the catalog's admin API). */
function ProductEditor({ id }: { id: number }) {
  const client = useQueryClient();
  const categories = useCategories();
  const product = useQuery({
    queryKey: ["admin-catalog-product", id],
    queryFn: async () => data(await api.GET("/api/admin/catalog/products/{id}", { params: { path: { id } } })),
  });
  return (
    <Panel title={`Edit product ${id}`} query={product}>
      {(p) => <EditorForm key={p.id} product={p} categories={categories.data ?? []} onSaved={() => client.invalidateQueries({ queryKey: ["admin-products"] })} />}
    </Panel>
  );
}

type CatalogProduct = { id: number; name: string; price: number; description: string; status: "draft" | "active" | "archived"; category_ids: number[]; images: { url: string; alt_text: string }[]; updated_at: string };

function EditorForm({ product, categories, onSaved }: { product: CatalogProduct; categories: Category[]; onSaved: () => unknown }) {
  const client = useQueryClient();
  const first = product.images[0];
  const [values, setValues] = useState({
    name: product.name,
    price: product.price.toFixed(2),
    description: product.description,
    status: product.status,
    categories: product.category_ids.map(String),
    image: first?.url ?? "",
    alt: first?.alt_text ?? "",
  });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const save = useMutation({
    mutationFn: async () => {
      const path = { params: { path: { id: product.id } } };
      await api.PUT("/api/admin/catalog/products/{id}", {
        ...path,
        body: { name: values.name.trim(), price: Number(values.price), description: values.description, status: values.status, category_ids: values.categories.map(Number) },
      });
      const images = values.image.trim() ? [{ url: values.image.trim(), alt_text: values.alt.trim() || values.name.trim() }] : [];
      return data(await api.PUT("/api/admin/catalog/products/{id}/images", { ...path, body: { images } }));
    },
    onSuccess: () => Promise.all([onSaved(), client.invalidateQueries({ queryKey: ["admin-catalog-product", product.id] }), client.invalidateQueries({ queryKey: ["product", product.id] })]),
    onError: (error) => setErrors(toApiError(error).fieldErrors),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const found: Record<string, string | undefined> = {};
    if (!values.name.trim()) found.name = "Enter a name.";
    if (!/^\d+(\.\d{1,2})?$/.test(values.price)) found.price = "Enter a price like 12.50.";
    setErrors(found);
    if (!Object.values(found).some(Boolean)) save.mutate();
  }
  return (
    <form onSubmit={submit} noValidate className="narrow">
      <Field label="Product name" value={values.name} error={errors.name} onChange={(e) => setValues({ ...values, name: e.target.value })} />
      <Field label="Product price" inputMode="decimal" value={values.price} error={errors.price} onChange={(e) => setValues({ ...values, price: e.target.value })} />
      <TextAreaField label="Product description" value={values.description} error={errors.description} onChange={(e) => setValues({ ...values, description: e.target.value })} />
      <SelectField label="Visibility" value={values.status} onChange={(e) => setValues({ ...values, status: e.target.value as CatalogProduct["status"] })}>
        <option value="active">Active (in the shop)</option>
        <option value="draft">Draft (hidden)</option>
        <option value="archived">Archived</option>
      </SelectField>
      <SelectField
        label="Categories"
        multiple
        size={Math.min(6, Math.max(2, categories.length))}
        value={values.categories}
        onChange={(e) => setValues({ ...values, categories: [...e.target.selectedOptions].map((o) => o.value) })}
      >
        {categories.map((c) => (
          <option key={c.id} value={c.id}>
            {"\u00a0\u00a0".repeat(c.ancestor_ids.length)}
            {c.name}
          </option>
        ))}
      </SelectField>
      <Field label="Image URL" value={values.image} error={errors.images} hint="An https address or an uploaded /api/uploads/ path; empty removes the image." onChange={(e) => setValues({ ...values, image: e.target.value })} />
      <Field label="Image description (alt text)" value={values.alt} onChange={(e) => setValues({ ...values, alt: e.target.value })} />
      <FormError message={save.isError && !Object.keys(toApiError(save.error).fieldErrors).length ? toApiError(save.error).userMessage : null} />
      <button type="submit" disabled={save.isPending}>
        Save product
      </button>
      <div aria-live="polite">{save.isSuccess && <p className="notice success">Saved.</p>}</div>
    </form>
  );
}

function NewCategory() {
  const client = useQueryClient();
  const categories = useCategories();
  const [name, setName] = useState("");
  const [parent, setParent] = useState("");
  const [error, setError] = useState<string>();
  const create = useMutation({
    mutationFn: async () => data(await api.POST("/api/admin/catalog/categories/", { body: { name: name.trim(), ...(parent ? { parent_id: Number(parent) } : {}) } })),
    onSuccess: () => {
      setName("");
      return client.invalidateQueries({ queryKey: ["categories"] });
    },
  });
  return (
    <form
      className="narrow"
      noValidate
      aria-labelledby="new-category-title"
      onSubmit={(e) => {
        e.preventDefault();
        setError(name.trim() ? undefined : "Enter a category name.");
        if (name.trim()) create.mutate();
      }}
    >
      <h3 id="new-category-title">New category</h3>
      <Field label="Category name" value={name} error={error} onChange={(e) => setName(e.target.value)} />
      <SelectField label="Inside" value={parent} onChange={(e) => setParent(e.target.value)}>
        <option value="">Top level</option>
        {(categories.data ?? []).map((c) => (
          <option key={c.id} value={c.id}>
            {"\u00a0\u00a0".repeat(c.ancestor_ids.length)}
            {c.name}
          </option>
        ))}
      </SelectField>
      <FormError message={create.isError ? toApiError(create.error).userMessage : null} />
      <button type="submit" disabled={create.isPending}>
        Add category
      </button>
      <div aria-live="polite">{create.isSuccess && <p className="notice success">Category {create.data.name} added.</p>}</div>
    </form>
  );
}

export default function ProductsTab() {
  const [params] = useSearchParams();
  const editing = Number(params.get("product") ?? 0);
  const products = useQuery({
    queryKey: ["admin-products"],
    queryFn: async () => Object.entries(data(await api.GET("/api/products/", { params: { query: { page_size: 200 } } }))).map(([id, p]) => ({ ...p, id: Number(id) })),
  });
  return (
    <>
      {editing > 0 && <ProductEditor key={editing} id={editing} />}
      <div className="admin-forms">
        <NewProduct />
        <NewCategory />
      </div>
      <Panel title="Products" query={products} isEmpty={(l) => l.length === 0} empty="No products yet.">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Price</th>
                <th scope="col">Stock</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <ProductRow key={`${p.id}-${p.stock}`} {...p} />
              ))}
            </tbody>
          </table>
        )}
      </Panel>
    </>
  );
}

