// Keeps the client's API types in step with the daemon's OpenAPI document (daemon/openapi.json).
//
//   node scripts/openapi.mjs --write   regenerate src/openapi.ts from the document
//   node scripts/openapi.mjs --check   fail when src/openapi.ts is not what the document gives,
//                                      or when the document names a problem code that the
//                                      client's PROBLEM_CODES (src/errors.ts) does not know
//
// `npm run build` runs --check first, so a drift between the daemon and the client fails the
// build; the client's code imports its wire types from src/openapi.ts, so a changed schema
// then fails the type check wherever the client relied on the old shape.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const spec = resolve(here, '../../../../../daemon/openapi.json');
const target = resolve(here, '../src/openapi.ts');
const errorsFile = resolve(here, '../src/errors.ts');

const header =
  '// Generated from daemon/openapi.json by packages/client/scripts/openapi.mjs (openapi-typescript).\n' +
  '// Do not edit: run `npm run gen:api` in clients/web after changing the document.\n';
// `StorableJson` (any JSON value without NUL, user_info's values) refers to itself through an
// array, which TypeScript cannot express as an indexed access into `components`; the client
// never reads it, so it is typed `unknown` (its shape is still checked by the daemon).
const recursive = new Set(['#/components/schemas/StorableJson']);
const generated =
  header +
  astToString(
    await openapiTS(pathToFileURL(spec), {
      transform(_schema, meta) {
        return recursive.has(meta.path) ? ts.factory.createKeywordTypeNode(ts.SyntaxKind.UnknownKeyword) : undefined;
      },
    }),
  );

const mode = process.argv[2];
if (mode === '--write') {
  writeFileSync(target, generated);
  console.log(`wrote ${target}`);
  process.exit(0);
}
if (mode !== '--check') {
  console.error('usage: openapi.mjs --write | --check');
  process.exit(2);
}

let failed = false;
let committed = '';
try {
  committed = readFileSync(target, 'utf8');
} catch {
  committed = '';
}
if (committed !== generated) {
  console.error(
    `API drift: ${target} does not match daemon/openapi.json.\n` +
      'Run `npm run gen:api` in clients/web, then fix what the type check reports.',
  );
  failed = true;
}

// Every problem code the document names (in "codes: a, b" response descriptions) must be one
// the client's typed errors know.
const doc = readFileSync(spec, 'utf8');
const documented = new Set();
for (const m of doc.matchAll(/codes?: ([a-z_]+(?:, [a-z_]+)*)/g)) {
  for (const code of m[1].split(', ')) documented.add(code);
}
const errorsSrc = readFileSync(errorsFile, 'utf8');
const listed = errorsSrc.match(/PROBLEM_CODES = \[([^\]]*)\]/);
const known = new Set(listed ? [...listed[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]) : []);
const missing = [...documented].filter((c) => !known.has(c));
if (documented.size === 0 || missing.length > 0) {
  console.error(`API drift: problem codes in daemon/openapi.json unknown to the client: ${missing.join(', ') || '(none found)'}`);
  failed = true;
}
if (failed) process.exit(1);
console.log(`openapi: types match daemon/openapi.json; ${documented.size} documented problem codes all known`);
