import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import { toApiError } from "../api/errors";
import { Field, FormError, SelectField } from "../shared/Field";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";
import { useTitle } from "../shared/useTitle";

const STATUSES = ["pending", "paid", "fulfilled", "shipped", "delivered", "cancelled", "refunded", "failed"] as const;

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
        <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
          Delete<span className="visually-hidden"> {name}</span>
        </button>
      </td>
    </tr>
  );
}

function Products() {
  const products = useQuery({
    queryKey: ["admin-products"],
    queryFn: async () => Object.entries(data(await api.GET("/api/products/", { params: { query: { page_size: 200 } } }))).map(([id, p]) => ({ ...p, id: Number(id) })),
  });
  return (
    <>
      <NewProduct />
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

function Orders() {
  const [params, setParams] = useSearchParams();
  const given = params.get("status") ?? "";
  const status = STATUSES.find((s) => s === given) ?? "";
  const client = useQueryClient();
  const orders = useQuery({
    queryKey: ["admin-orders", status],
    queryFn: async () => data(await api.GET("/api/orders/", { params: { query: { page_size: 100, ...(status ? { status } : {}) } } })),
  });
  const cancel = useMutation({
    mutationFn: async (id: number) => data(await api.POST("/api/orders/{order_id}/cancel", { params: { path: { order_id: id } } })),
    onSettled: () => client.invalidateQueries({ queryKey: ["admin-orders"] }),
  });
  return (
    <>
      <SelectField label="Status" value={status} onChange={(e) => setParams(e.target.value ? { tab: "orders", status: e.target.value } : { tab: "orders" })}>
        <option value="">Any status</option>
        {STATUSES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </SelectField>
      {cancel.isError && (
        <p role="alert" className="notice error">
          {toApiError(cancel.error).userMessage}
        </p>
      )}
      <Panel title="Orders" query={orders} isEmpty={(o) => o.orders.length === 0} empty="No orders.">
        {(o) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Order</th>
                <th scope="col">Items</th>
                <th scope="col">Total</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {o.orders.map((order) => (
                <tr key={order.order_id}>
                  <th scope="row">Order {order.order_id}</th>
                  <td>{order.items.reduce((n, i) => n + i.quantity, 0)}</td>
                  <td>{formatPrice(order.total)}</td>
                  <td>{order.status}</td>
                  <td>
                    {(order.status === "pending" || order.status === "paid") && (
                      <button type="button" onClick={() => cancel.mutate(order.order_id)} disabled={cancel.isPending}>
                        Cancel and refund<span className="visually-hidden"> order {order.order_id}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
    </>
  );
}

function Reviews() {
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

const TABS = { products: "Products", orders: "Orders", reviews: "Reviews" } as const;

export default function AdminPage() {
  const [params] = useSearchParams();
  const tab = (params.get("tab") ?? "products") as keyof typeof TABS;
  const current = tab in TABS ? tab : "products";
  useTitle(`Back office: ${TABS[current]}`);
  return (
    <>
      <h1>Back office: {TABS[current]}</h1>
      <nav aria-label="Back office">
        <ul className="steps">
          {Object.entries(TABS).map(([key, label]) => (
            <li key={key}>
              <Link to={`/admin?tab=${key}`} aria-current={key === current ? "page" : undefined}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {current === "products" && <Products />}
      {current === "orders" && <Orders />}
      {current === "reviews" && <Reviews />}
    </>
  );
}
