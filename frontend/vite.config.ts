/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Dev mode: `npm run dev` serves on :3000 with hot reload and proxies to a platform from `make run`
// (SHOP_PORT_OFFSET shifts the ports as it does for the launcher).
const offset = Number(process.env.SHOP_PORT_OFFSET ?? 0);
const payments = process.env.SHOP_PAYMENTS_HTTP_PORT ? Number(process.env.SHOP_PAYMENTS_HTTP_PORT) : 5001 + offset;

export default defineConfig({
  plugins: [react()],
  server: {
    port: 3000 + offset,
    strictPort: true,
    proxy: {
      "/api/": `http://127.0.0.1:${5000 + offset}`,
      "/provider/": {
        target: `http://127.0.0.1:${payments}`,
        rewrite: (path) => path.replace(/^\/provider/, ""),
      },
    },
  },
  build: { sourcemap: false, chunkSizeWarningLimit: 400 },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
