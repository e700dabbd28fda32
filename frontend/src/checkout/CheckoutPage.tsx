import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useParams } from "react-router";
import { api, data, tokenizeCard } from "../api/client";
import { toApiError } from "../api/errors";
import { cartTotals } from "../shared/cartMath";
import { Field, FormError } from "../shared/Field";
import { formatMoney, formatPrice, toCents } from "../shared/money";
import { Panel } from "../shared/Panel";
import { keys, useCart, useProducts } from "../shared/queries";
import { useTitle } from "../shared/useTitle";
import { hasErrors, parseExpiry, validateAddress, validateCard, type AddressValues, type CardValues } from "../shared/validation";
import { STEPS, STEP_LABELS, allowedStep, clearDraft, newKey, useDraft, type Draft, type Step } from "./draft";

type Update = (changes: Partial<Draft>) => void;

function StepNav({ current }: { current: Step }) {
  return (
    <nav aria-label="Checkout steps">
      <ol className="steps">
        {STEPS.map((step, i) => (
          <li key={step} aria-current={step === current ? "step" : undefined}>
            {i + 1}. {STEP_LABELS[step]}
          </li>
        ))}
      </ol>
    </nav>
  );
}

const ADDRESS_FIELDS: [keyof AddressValues, string, string?][] = [
  ["name", "Full name", "name"],
  ["line1", "Address line 1", "address-line1"],
  ["line2", "Address line 2 (optional)", "address-line2"],
  ["city", "City", "address-level2"],
  ["region", "State or region (optional)", "address-level1"],
  ["postal_code", "Postal code", "postal-code"],
  ["country", "Country code", "country"],
  ["phone", "Phone (optional)", "tel"],
];

function AddressStep({ draft, update, next }: { draft: Draft; update: Update; next: () => void }) {
  const addresses = useQuery({ queryKey: ["addresses"], queryFn: async () => data(await api.GET("/api/profile/addresses/")) });
  const [choice, setChoice] = useState<number | "new" | null>(draft.addressId);
  const [values, setValues] = useState<AddressValues>(draft.address);
  const [errors, setErrors] = useState<ReturnType<typeof validateAddress>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const saved = addresses.data ?? [];
  const selected = choice ?? (saved.length > 0 ? saved[0].id : "new");

  function submit(event: FormEvent) {
    event.preventDefault();
    if (selected === "new") {
      const found = validateAddress(values);
      setErrors(found);
      if (hasErrors(found)) return;
      update({ addressId: "new", address: values, method: null, shippingCost: null });
    } else {
      const address = saved.find((a) => a.id === selected);
      if (!address) {
        setFormError("Choose an address.");
        return;
      }
      update({ addressId: address.id, address: { ...address }, method: null, shippingCost: null });
    }
    next();
  }

  return (
    <form onSubmit={submit} noValidate>
      <h2>Shipping address</h2>
      <fieldset>
        <legend>Ship to</legend>
        {addresses.isPending && <p role="status">Loading your addresses…</p>}
        {addresses.isError && <p className="notice error">Your address book is unavailable; enter an address below.</p>}
        {saved.map((a) => (
          <div key={a.id} className="radio">
            <input type="radio" id={`addr-${a.id}`} name="address" checked={selected === a.id} onChange={() => setChoice(a.id)} />
            <label htmlFor={`addr-${a.id}`}>
              {a.label ? `${a.label}: ` : ""}
              {a.name}, {a.line1}, {a.city} {a.postal_code}, {a.country}
            </label>
          </div>
        ))}
        <div className="radio">
          <input type="radio" id="addr-new" name="address" checked={selected === "new"} onChange={() => setChoice("new")} />
          <label htmlFor="addr-new">A new address</label>
        </div>
      </fieldset>
      {selected === "new" && (
        <div className="address-form">
          {ADDRESS_FIELDS.map(([field, label, autoComplete]) => (
            <Field
              key={field}
              label={label}
              autoComplete={autoComplete}
              value={values[field]}
              error={errors[field]}
              onChange={(e) => setValues({ ...values, [field]: e.target.value })}
            />
          ))}
        </div>
      )}
      <FormError message={formError} />
      <div className="actions">
        <Link to="/cart">Back to cart</Link>
        <button type="submit">Continue to shipping</button>
      </div>
    </form>
  );
}

function ShippingStep({ draft, update, next }: { draft: Draft; update: Update; next: () => void }) {
  const cart = useCart();
  const items = (cart.data ?? []).map((line) => ({ product_id: line.productId, quantity: line.quantity }));
  const { address } = draft;
  const quote = useQuery({
    queryKey: ["quote", address, items],
    enabled: cart.isSuccess,
    queryFn: async () =>
      data(
        await api.POST("/api/shipping/quote", {
          body: { address: { line1: address.line1, city: address.city, region: address.region, postal_code: address.postal_code, country: address.country.toUpperCase() }, items },
        }),
      ),
  });
  const [method, setMethod] = useState(draft.method);
  const [error, setError] = useState<string | null>(null);

  function submit(event: FormEvent) {
    event.preventDefault();
    const option = quote.data?.options.find((o) => o.method === method);
    if (!option) {
      setError("Choose a shipping method.");
      return;
    }
    update({ method: option.method, shippingCost: option.cost });
    next();
  }

  return (
    <form onSubmit={submit} noValidate>
      <h2>Shipping method</h2>
      <Panel title="Shipping options" hideTitle query={quote} isEmpty={(q) => q.options.length === 0} empty="We do not ship to this address yet. Go back and choose another address.">
        {(q) => (
          <fieldset aria-describedby={error ? "method-error" : undefined}>
            <legend>Delivery</legend>
            {q.options.map((o) => (
              <div key={o.method} className="radio">
                <input type="radio" id={`method-${o.method}`} name="method" checked={method === o.method} onChange={() => setMethod(o.method)} />
                <label htmlFor={`method-${o.method}`}>
                  {o.method} ({o.carrier}), {o.estimated_days_min}–{o.estimated_days_max} days: {o.cost === 0 ? "Free" : formatPrice(o.cost)}
                </label>
              </div>
            ))}
            {error && (
              <p id="method-error" className="field-error">
                {error}
              </p>
            )}
          </fieldset>
        )}
      </Panel>
      <div className="actions">
        <Link to="/checkout/address">Back</Link>
        <button type="submit">Continue to payment</button>
      </div>
    </form>
  );
}

function PaymentStep({ draft, update, next }: { draft: Draft; update: Update; next: () => void }) {
  const [values, setValues] = useState<CardValues>({ number: "", expiry: "", cvc: "" });
  const [errors, setErrors] = useState<ReturnType<typeof validateCard>>({});
  const tokenize = useMutation({
    mutationFn: () => {
      const expiry = parseExpiry(values.expiry)!;
      return tokenizeCard({ number: values.number.replace(/\s+/g, ""), exp_month: expiry.month, exp_year: expiry.year, cvc: values.cvc });
    },
    onSuccess: (token) => {
      update({ payment: token });
      next();
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    const found = validateCard(values);
    setErrors(found);
    if (!hasErrors(found)) tokenize.mutate();
  }

  return (
    <form onSubmit={submit} noValidate>
      <h2>Payment</h2>
      {draft.payment && (
        <p>
          Using {draft.payment.brand} card ending {draft.payment.last4}.{" "}
          <button type="button" className="link-button" onClick={next}>
            Keep this card
          </button>
        </p>
      )}
      <p className="hint">Test cards: 4242 4242 4242 4242 is approved, 4000 0000 0000 0002 is declined.</p>
      <Field label="Card number" inputMode="numeric" autoComplete="cc-number" value={values.number} error={errors.number} onChange={(e) => setValues({ ...values, number: e.target.value })} />
      <Field label="Expiry (MM/YY)" autoComplete="cc-exp" value={values.expiry} error={errors.expiry} onChange={(e) => setValues({ ...values, expiry: e.target.value })} />
      <Field label="Security code" inputMode="numeric" autoComplete="cc-csc" value={values.cvc} error={errors.cvc} onChange={(e) => setValues({ ...values, cvc: e.target.value })} />
      <FormError message={tokenize.isError ? toApiError(tokenize.error).userMessage : null} />
      <div className="actions">
        <Link to="/checkout/shipping">Back</Link>
        <button type="submit" disabled={tokenize.isPending}>
          {tokenize.isPending ? "Checking card…" : "Continue to review"}
        </button>
      </div>
    </form>
  );
}

function ReviewStep({ draft, update }: { draft: Draft; update: Update }) {
  const navigate = useNavigate();
  const client = useQueryClient();
  const cart = useCart();
  const lines = cart.data ?? [];
  const products = useProducts(lines.map((l) => l.productId));
  const byId = new Map(products.map((r, i) => [lines[i].productId, r.data]));
  const totals = cartTotals(lines, byId);
  const shippingCents = toCents(draft.shippingCost ?? 0);
  // Set synchronously on the first click: the mutation's own pending state renders a tick later,
  // after a double click's second click. The Idempotency-Key covers retries across reloads.
  const placing = useRef(false);

  const place = useMutation({
    mutationFn: async () => {
      const { addressId, address } = draft;
      const shipping_address =
        addressId === "new" || typeof addressId === "number"
          ? { name: address.name, line1: address.line1, line2: address.line2, city: address.city, region: address.region, postal_code: address.postal_code, country: address.country.toUpperCase(), phone: address.phone }
          : undefined;
      return data(
        await api.POST("/api/orders/", {
          params: { header: { "Idempotency-Key": draft.idempotencyKey } },
          body: { payment: { token: draft.payment!.token }, shipping_address, shipping_method: draft.method },
        }),
      );
    },
    onSuccess: async (created) => {
      clearDraft();
      await Promise.all([client.invalidateQueries({ queryKey: keys.cart }), client.invalidateQueries({ queryKey: keys.orders })]);
      navigate(`/orders/${created.order_id}/confirmation`, { replace: true });
    },
    onError: (error) => {
      placing.current = false;
      // A refused order will be refused again with the same key: the next try gets a new one. When no
      // answer came, the key is kept so a retry cannot make a second order.
      if (toApiError(error).kind !== "unavailable") update({ idempotencyKey: newKey() });
    },
  });

  return (
    <section aria-labelledby="review-title">
      <h2 id="review-title">Review your order</h2>
      <Panel title="Items" headingLevel={3} query={cart} isEmpty={(l) => l.length === 0} empty={<>Your cart is empty. <Link to="/products">Browse the catalog</Link>.</>}>
        {(list) => (
          <ul>
            {list.map((line) => (
              <li key={line.itemId}>
                {byId.get(line.productId)?.name ?? `Product ${line.productId}`} × {line.quantity}
              </li>
            ))}
          </ul>
        )}
      </Panel>
      <dl className="totals">
        <dt>Ship to</dt>
        <dd>
          {draft.address.name}, {draft.address.line1}, {draft.address.city} {draft.address.postal_code}, {draft.address.country}
        </dd>
        <dt>Shipping</dt>
        <dd>
          {draft.method}: {formatMoney(shippingCents)}
        </dd>
        <dt>Payment</dt>
        <dd>
          {draft.payment?.brand} ending {draft.payment?.last4}
        </dd>
        <dt>Subtotal</dt>
        <dd>{formatMoney(totals.subtotalCents)}</dd>
        <dt>Estimated total</dt>
        <dd>{formatMoney(totals.subtotalCents + shippingCents)}</dd>
      </dl>
      <FormError message={place.isError ? toApiError(place.error).userMessage : null} />
      <div className="actions">
        <Link to="/checkout/payment">Back</Link>
        <button
          type="button"
          onClick={() => {
            if (placing.current) return;
            placing.current = true;
            place.mutate();
          }}
          disabled={place.isPending || lines.length === 0}
        >
          {place.isPending ? "Placing order…" : "Place order"}
        </button>
      </div>
    </section>
  );
}

export default function CheckoutPage() {
  useTitle("Checkout");
  const navigate = useNavigate();
  const params = useParams();
  const [draft, update] = useDraft();
  const step = allowedStep(params.step, draft);
  if (params.step !== step) return <Navigate to={`/checkout/${step}`} replace />;
  const next = () => navigate(`/checkout/${STEPS[STEPS.indexOf(step) + 1]}`);
  return (
    <>
      <h1>Checkout: {STEP_LABELS[step]}</h1>
      <StepNav current={step} />
      {step === "address" && <AddressStep draft={draft} update={update} next={next} />}
      {step === "shipping" && <ShippingStep draft={draft} update={update} next={next} />}
      {step === "payment" && <PaymentStep draft={draft} update={update} next={next} />}
      {step === "review" && <ReviewStep draft={draft} update={update} />}
    </>
  );
}
