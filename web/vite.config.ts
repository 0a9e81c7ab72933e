// The console's build: web/ into internal/console/dist, which the Go
// binary embeds (make console).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../internal/console/dist",
    emptyOutDir: true,
    target: "es2022",
    // Each page's code is its own chunk, loaded when the page opens.
    chunkSizeWarningLimit: 600,
    modulePreload: { polyfill: false },
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
});
