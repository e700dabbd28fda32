// Server state shared by several features (products, cart): one cache key each, so every panel
// showing it agrees.
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, data } from "../api/client";
import type { Schemas } from "../api/client";
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

export function useCart() {
  const session = useSession();
  return useQuery({
    queryKey: keys.cart,
    queryFn: async (): Promise<CartLine[]> => cartLines(data(await api.GET("/api/cart/"))),
    enabled: session !== null,
  });
}

export function useAddToCart() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ productId, quantity }: { productId: number; quantity: number }) =>
      data(await api.POST("/api/cart/", { body: { product_id: productId, quantity } })),
    onSettled: () => client.invalidateQueries({ queryKey: keys.cart }),
  });
}

export function useSetQuantity() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ line, quantity }: { line: CartLine; quantity: number }) => {
      const change = quantityChange(line.quantity, quantity);
      if (change.remove) {
        await api.DELETE("/api/cart/{item_id}", { params: { path: { item_id: Number(line.itemId) } } });
      }
      if (change.add > 0) {
        await api.POST("/api/cart/", { body: { product_id: line.productId, quantity: change.add } });
      }
    },
    onSettled: () => client.invalidateQueries({ queryKey: keys.cart }),
  });
}
