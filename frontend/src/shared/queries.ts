// Server state shared by several features (products, cart): one cache key each, so every panel
// showing it agrees.
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, data } from "../api/client";
import type { Schemas } from "../api/client";
import { getSession } from "../api/session";
import { cartLines, quantityChange, type CartLine } from "./cartMath";
import { useSession } from "./session";

export type Product = Schemas["Product"];

export const keys = {
  product: (id: number) => ["product", id] as const,
  products: (q: string, pageToken: string) => ["products", q, pageToken] as const,
  cart: ["cart"] as const,
  orders: ["orders"] as const,
};

export async function fetchProduct(id: number): Promise<Product> {
  return data(await api.GET("/api/products/{id}", { params: { path: { id } } }));
}

export function useProduct(id: number) {
  return useQuery({ queryKey: keys.product(id), queryFn: () => fetchProduct(id), enabled: id > 0 });
}

/** Many products by id (e.g. a cart's lines), each cached on its own. */
export function useProducts(ids: number[]) {
  return useQueries({
    queries: ids.map((id) => ({ queryKey: keys.product(id), queryFn: () => fetchProduct(id) })),
  });
}

/** The signed-in user's cart, or before signing in the guest's (kept by the gateway's guest cookie). */
export function useCart() {
  const session = useSession();
  return useQuery({
    queryKey: [...keys.cart, session?.userId ?? "guest"],
    queryFn: async (): Promise<CartLine[]> =>
      cartLines(data(session ? await api.GET("/api/cart/") : await api.GET("/api/guest-cart/"))),
  });
}

async function addLine(productId: number, quantity: number) {
  const body = { product_id: productId, quantity };
  return data(getSession() ? await api.POST("/api/cart/", { body }) : await api.POST("/api/guest-cart/", { body }));
}

async function removeLine(itemId: number) {
  const params = { path: { item_id: itemId } };
  if (getSession()) await api.DELETE("/api/cart/{item_id}", { params });
  else await api.DELETE("/api/guest-cart/{item_id}", { params });
}

export function useAddToCart() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ productId, quantity }: { productId: number; quantity: number }) => addLine(productId, quantity),
    onSettled: () => client.invalidateQueries({ queryKey: keys.cart }),
  });
}

export function useSetQuantity() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ line, quantity }: { line: CartLine; quantity: number }) => {
      const change = quantityChange(line.quantity, quantity);
      if (change.remove) await removeLine(Number(line.itemId));
      if (change.add > 0) await addLine(line.productId, change.add);
    },
    onSettled: () => client.invalidateQueries({ queryKey: keys.cart }),
  });
}
