// What the shopper chose so far, kept for the tab's life so a reload or Back keeps it. No card data
// is kept: only the provider's token and what it says about the card.
import { useCallback, useState } from "react";
import type { CardToken } from "../api/client";
import { EMPTY_ADDRESS, type AddressValues } from "../shared/validation";

export interface Draft {
  addressId: number | "new" | null;
  address: AddressValues;
  method: string | null;
  shippingCost: number | null;
  payment: Omit<CardToken, never> | null;
  idempotencyKey: string;
}

const KEY = "shop.checkout";

export function newKey(): string {
  return crypto.randomUUID();
}

export function emptyDraft(): Draft {
  return { addressId: null, address: EMPTY_ADDRESS, method: null, shippingCost: null, payment: null, idempotencyKey: newKey() };
}

export function loadDraft(): Draft {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? { ...emptyDraft(), ...(JSON.parse(raw) as Partial<Draft>) } : emptyDraft();
  } catch {
    return emptyDraft();
  }
}

export function clearDraft(): void {
  sessionStorage.removeItem(KEY);
}

export function useDraft(): [Draft, (changes: Partial<Draft>) => void] {
  const [draft, setDraft] = useState(loadDraft);
  const update = useCallback((changes: Partial<Draft>) => {
    setDraft((old) => {
      const next = { ...old, ...changes };
      sessionStorage.setItem(KEY, JSON.stringify(next));
      return next;
    });
  }, []);
  return [draft, update];
}

export const STEPS = ["address", "shipping", "payment", "review"] as const;
export type Step = (typeof STEPS)[number];

export const STEP_LABELS: Record<Step, string> = {
  address: "Address",
  shipping: "Shipping",
  payment: "Payment",
  review: "Review",
};

/** The furthest step the draft allows: later ones need the earlier ones done. */
export function furthestStep(draft: Draft): Step {
  if (draft.addressId === null) return "address";
  if (!draft.method) return "shipping";
  if (!draft.payment) return "payment";
  return "review";
}

export function allowedStep(wanted: string | undefined, draft: Draft): Step {
  const furthest = STEPS.indexOf(furthestStep(draft));
  const index = STEPS.indexOf(wanted as Step);
  return index >= 0 && index <= furthest ? STEPS[index] : STEPS[furthest];
}
