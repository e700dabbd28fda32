import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { api, data } from "../api/client";
import type { components } from "../api/schema";
import { toApiError } from "../api/errors";
import { signOut } from "./signIn";
import { Field, FormError } from "../shared/Field";
import { formatPrice } from "../shared/money";
import { Panel } from "../shared/Panel";
import { keys } from "../shared/queries";
import { useTitle } from "../shared/useTitle";
import { EMPTY_ADDRESS, hasErrors, validateAddress, type AddressValues } from "../shared/validation";

function Profile() {
  const client = useQueryClient();
  const profile = useQuery({ queryKey: ["profile"], queryFn: async () => data(await api.GET("/api/profile/")) });
  const [name, setName] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: async (display_name: string) => data(await api.PUT("/api/profile/", { body: { display_name } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["profile"] }),
  });
  return (
    <Panel title="Profile" query={profile}>
      {(p) => (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(name ?? p.display_name);
          }}
          className="narrow"
        >
          <p>
            Signed in as <strong>{p.email}</strong>
          </p>
          <Field label="Display name" value={name ?? p.display_name} error={save.isError ? toApiError(save.error).userMessage : undefined} onChange={(e) => setName(e.target.value)} />
          <button type="submit" disabled={save.isPending}>
            Save profile
          </button>
          <div aria-live="polite">{save.isSuccess && <p className="notice success">Profile saved.</p>}</div>
        </form>
      )}
    </Panel>
  );
}

const FIELDS: [keyof AddressValues, string][] = [
  ["name", "Full name"],
  ["line1", "Address line 1"],
  ["line2", "Address line 2 (optional)"],
  ["city", "City"],
  ["region", "State or region (optional)"],
  ["postal_code", "Postal code"],
  ["country", "Country code"],
  ["phone", "Phone (optional)"],
];

// The API takes assigned ISO codes only; the form's validation checks the shape, the API the rest.
type CountryCode = components["schemas"]["NewAddress"]["country"];

function NewAddress({ onDone }: { onDone: () => void }) {
  const client = useQueryClient();
  const [values, setValues] = useState<AddressValues>(EMPTY_ADDRESS);
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const add = useMutation({
    mutationFn: async () => data(await api.POST("/api/profile/addresses/", { body: { ...values, country: values.country.toUpperCase() as CountryCode } })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["addresses"] });
      onDone();
    },
    onError: (error) => setErrors(toApiError(error).fieldErrors),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const found = validateAddress(values);
    setErrors(found);
    if (!hasErrors(found)) add.mutate();
  }
  return (
    <form onSubmit={submit} noValidate aria-labelledby="new-address-title" className="narrow">
      <h3 id="new-address-title">New address</h3>
      {FIELDS.map(([field, label]) => (
        <Field key={field} label={label} value={values[field]} error={errors[field]} onChange={(e) => setValues({ ...values, [field]: e.target.value })} />
      ))}
      <FormError message={add.isError && !hasErrors(toApiError(add.error).fieldErrors) ? toApiError(add.error).userMessage : null} />
      <button type="submit" disabled={add.isPending}>
        Save address
      </button>
    </form>
  );
}

function Addresses() {
  const client = useQueryClient();
  const [adding, setAdding] = useState(false);
  const addresses = useQuery({ queryKey: ["addresses"], queryFn: async () => data(await api.GET("/api/profile/addresses/")) });
  const change = useMutation({
    mutationFn: async ({ id, action }: { id: number; action: "delete" | "default" }) => {
      if (action === "delete") await api.DELETE("/api/profile/addresses/{id}", { params: { path: { id } } });
      else await api.POST("/api/profile/addresses/{id}/default", { params: { path: { id } } });
    },
    onSettled: () => client.invalidateQueries({ queryKey: ["addresses"] }),
  });
  return (
    <Panel title="Address book" query={addresses}>
      {(list) => (
        <>
          {list.length === 0 && <p className="muted">No saved addresses yet.</p>}
          <ul className="addresses">
            {list.map((a) => (
              <li key={a.id}>
                <p>
                  {a.name}, {a.line1}, {a.city} {a.postal_code}, {a.country} {a.is_default && <span className="badge">Default</span>}
                </p>
                {!a.is_default && (
                  <button type="button" onClick={() => change.mutate({ id: a.id, action: "default" })}>
                    Make default<span className="visually-hidden">: {a.line1}</span>
                  </button>
                )}{" "}
                <button type="button" onClick={() => change.mutate({ id: a.id, action: "delete" })}>
                  Delete<span className="visually-hidden"> address {a.line1}</span>
                </button>
              </li>
            ))}
          </ul>
          {change.isError && (
            <p role="alert" className="notice error">
              {toApiError(change.error).userMessage}
            </p>
          )}
          {adding ? (
            <NewAddress onDone={() => setAdding(false)} />
          ) : (
            <button type="button" onClick={() => setAdding(true)}>
              Add an address
            </button>
          )}
        </>
      )}
    </Panel>
  );
}

export function useOrders() {
  return useQuery({ queryKey: keys.orders, queryFn: async () => data(await api.GET("/api/orders/", { params: { query: { page_size: 50 } } })) });
}

function Orders() {
  const orders = useOrders();
  return (
    <Panel title="Orders" query={orders} isEmpty={(o) => o.orders.length === 0} empty={<>No orders yet. <Link to="/products">Start shopping</Link>.</>}>
      {(o) => (
        <table>
          <caption className="visually-hidden">Your orders, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Items</th>
              <th scope="col">Total</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {o.orders.map((order) => (
              <tr key={order.order_id}>
                <th scope="row">
                  <Link to={`/account/orders/${order.order_id}`}>Order {order.order_id}</Link>
                </th>
                <td>{order.items.reduce((n, item) => n + item.quantity, 0)}</td>
                <td>{formatPrice(order.total)}</td>
                <td>{order.status}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

function DeleteAccount() {
  const navigate = useNavigate();
  const client = useQueryClient();
  const [confirmed, setConfirmed] = useState(false);
  const remove = useMutation({
    mutationFn: async () => {
      await api.DELETE("/api/auth/me/");
    },
    onSuccess: async () => {
      await signOut().catch(() => {}); // the session already ended with the account: clear its cookies
      client.clear();
      navigate("/", { replace: true });
    },
  });
  return (
    <section aria-labelledby="delete-title" className="panel danger">
      <h2 id="delete-title">Delete account</h2>
      <p>This deletes your account, your addresses, cart and reviews. It cannot be undone.</p>
      <div className="checkbox">
        <input id="confirm-delete" type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} />
        <label htmlFor="confirm-delete">I understand, delete my account</label>
      </div>
      <FormError message={remove.isError ? toApiError(remove.error).userMessage : null} />
      <button type="button" className="danger" disabled={!confirmed || remove.isPending} onClick={() => remove.mutate()}>
        Delete my account
      </button>
    </section>
  );
}

/** "Sign out everywhere else": ends the account's other browser sessions, keeps this one. */
function Sessions() {
  const end = useMutation({
    mutationFn: async () => data(await api.POST("/api/auth/sessions/end-others")),
  });
  return (
    <section aria-labelledby="sessions-title" className="panel">
      <h2 id="sessions-title">Signed-in devices</h2>
      <p>Lost a phone or used a shared computer? Sign out of the shop everywhere except here.</p>
      <button type="button" disabled={end.isPending} onClick={() => end.mutate()}>
        Sign out everywhere else
      </button>
      <div aria-live="polite">
        {end.isSuccess && (
          <p className="notice success">
            Signed out of {end.data.ended} other {end.data.ended === 1 ? "session" : "sessions"}.
          </p>
        )}
      </div>
      <FormError message={end.isError ? toApiError(end.error).userMessage : null} />
    </section>
  );
}

export default function AccountPage() {
  useTitle("Your account");
  return (
    <>
      <h1>Your account</h1>
      <Profile />
      <Orders />
      <Addresses />
      <Sessions />
      <DeleteAccount />
    </>
  );
}
