/**
 * The dashboard build: static files into web/dist, which the Node server serves at `/` and the
 * Workers deploy ships as static assets. Preact through esbuild's JSX transform (no Babel).
 * `npm run dev:web` serves it with hot reload, proxying the API to a running `npm start`.
 */
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const api = process.env.SWITCHYARD_API ?? 'http://127.0.0.1:8787';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true },
  server: { proxy: { '/v1': api, '/healthz': api, '/readyz': api } },
  logLevel: 'warn',
});
