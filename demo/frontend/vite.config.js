import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The shop is served as static files; /api/* is routed to the backend by the
// load balancer, so the built app calls relative URLs.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true },
});
