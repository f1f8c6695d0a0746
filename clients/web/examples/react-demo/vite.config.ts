import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The built app is static: serve dist/ with any server and point it at a daemon with ?api=URL.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
});
