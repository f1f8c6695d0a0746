// Bundle size of @sessiond/client as an app would ship it: the package's entry bundled and
// minified by Vite (Rolldown), then gzipped (level 9). Fails when over the 5 kB budget.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const BUDGET = 5 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'sessiond-size-'));
try {
  await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      outDir: out,
      minify: true,
      lib: { entry: resolve(here, '../packages/client/dist/index.js'), formats: ['es'], fileName: 'client' },
    },
  });
  const file = readdirSync(out).find((f) => f.endsWith('.js'));
  const code = readFileSync(join(out, file));
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`@sessiond/client: ${code.length} B minified, ${gz} B gzipped (budget ${BUDGET} B)`);
  if (gz > BUDGET) {
    console.error('over the size budget');
    process.exit(1);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
