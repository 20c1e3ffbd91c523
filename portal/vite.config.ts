// The portal is served by the same Apache as the API (same origin): the build is a static
// directory whose index.html loads hashed files from /assets/. No inline script (the
// Content-Security-Policy forbids it), so the module preload polyfill is left out.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: process.env.PORTAL_OUT_DIR || 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2020',
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
});
