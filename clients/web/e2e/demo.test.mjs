// End-to-end: the built React demo in real Chromium (Debian's /usr/bin/chromium driven by
// playwright-core; no browser download) against real sessiond daemons.
//
// Run from clients/web after `npm run build`: `npm run test:e2e`. Needs target/debug/sessiond and
// target/debug/sessionctl (cargo build). Each test opens a fresh browser context (empty storage).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { repoRoot, startDaemon } from '../scripts/daemon.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../examples/react-demo/dist');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const STEP = 15_000; // longest wait for one UI step

/** A tiny static server for the built demo, on 127.0.0.1 and a port the kernel picks. */
async function serveDemo() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    let file = resolve(dist, `.${path}`);
    if (!file.startsWith(dist) || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, 'index.html');
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** A PDF of `size` bytes. */
const pdf = (size) => Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(size - 9, 0x41)]);

let web;
let daemon; // request timeout 5 s: the throttled upload must outlast it
let limited; // uploads limited to 1/minute: the 429 test
let browser;
const started = Date.now();

before(async () => {
  assert.ok(existsSync(join(dist, 'index.html')), `${dist} is missing: run npm run build first`);
  web = await serveDemo();
  const cors = { SESSIOND_CORS__ALLOWED_ORIGINS: JSON.stringify([web.origin]) };
  // Started side by side; when one fails to start, the other is still kept so `after` stops it
  // (a daemon left running would keep this process alive until the suite's timeout).
  const starting = await Promise.allSettled([
    startDaemon({
      env: { ...cors, SESSIOND_SERVER__REQUEST_TIMEOUT: '5s', SESSIOND_STORAGE__OPERATION_TIMEOUT: '4s', SESSIOND_UPLOADS__IDLE_TIMEOUT: '5s' },
    }),
    startDaemon({
      env: {
        ...cors,
        SESSIOND_RATE_LIMIT__ENABLED: 'true',
        SESSIOND_RATE_LIMIT__DEFAULT: '1000/minute',
        SESSIOND_RATE_LIMIT__ROUTES__UPLOAD: '1/minute',
      },
    }),
  ]);
  [daemon, limited] = starting.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  for (const s of starting) if (s.status === 'rejected') throw s.reason;
  // Playwright gives every launch a fresh temporary --user-data-dir (a profile of its own).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all([daemon?.stop(), limited?.stop()]);
  await web?.close();
  console.log(`e2e: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});

/** A fresh context (empty storage) and a page on the demo pointed at `d`. */
async function open(d = daemon) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 820 } });
  const page = await context.newPage();
  await page.goto(`${web.origin}/?api=${encodeURIComponent(d.url)}`);
  const uuid = await shownUuid(page);
  // The page lists the session's uploads once it has one: wait for that call too, so a test
  // that changes the session behind the page's back (a console reset) does not race it — a
  // list arriving after the reset gets 410 and replaces the session in this page already.
  await page.locator('[data-testid="upload-list"][data-status="ready"]').waitFor({ state: 'attached', timeout: STEP });
  return { context, page, uuid };
}

/** The UUID the demo shows, once it shows one. */
async function shownUuid(page, not = null) {
  const el = page.getByTestId('session-uuid');
  await page.waitForFunction(
    ([old]) => {
      const t = document.querySelector('[data-testid="session-uuid"]')?.textContent ?? '';
      return t.length === 36 && t !== old;
    },
    [not],
    { timeout: STEP },
  );
  const text = (await el.textContent()) ?? '';
  assert.match(text, UUID_V4);
  return text;
}

const sessionStatus = async (d, uuid) => (await fetch(`${d.url}/api/session/${uuid}`)).status;
const validate = async (d, uuid) =>
  (await fetch(`${d.url}/api/session/validate-uuid`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uuid }) })).status;

/** Wait for a toast (role status or alert) whose text matches `re`. */
async function toast(page, re, timeout = STEP) {
  const loc = page.locator('[role="status"], [role="alert"]').filter({ hasText: re });
  await loc.first().waitFor({ timeout });
  return loc.first();
}

const uploadFile = (page, name, buffer, mimeType = 'application/pdf') =>
  page.getByTestId('upload-input').setInputFiles({ name, mimeType, buffer });

async function listed(page) {
  return page.getByTestId('upload-list').locator(':scope > *').allTextContents();
}

describe('session lifecycle', () => {
  test('first visit creates a session, shows it, persists it, and tells the user', async () => {
    const { context, page, uuid } = await open();
    assert.equal(await page.evaluate(() => localStorage.getItem('sessiond.uuid')), uuid);
    assert.equal(await sessionStatus(daemon, uuid), 200);
    const t = await toast(page, /new session was started/i);
    assert.equal(await t.getAttribute('role'), 'status');
    await context.close();
  });

  test('reload keeps the same UUID and the daemon validates it', async () => {
    const { context, page, uuid } = await open();
    const validated = page.waitForResponse((r) => r.url().endsWith('/api/session/validate-uuid'), { timeout: STEP });
    await page.reload();
    const res = await validated;
    assert.equal(res.status(), 200);
    assert.equal((await res.json()).uuid, uuid);
    assert.equal(await shownUuid(page), uuid);
    await context.close();
  });

  test('reset through the dialog: Esc cancels, confirm gives a new UUID and the old one is refused (410)', async () => {
    const { context, page, uuid } = await open();
    await page.getByTestId('reset-session').click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: STEP });
    assert.match((await dialog.textContent()) ?? '', /deletes your 0 uploaded files/);
    assert.ok(await page.evaluate(() => !!document.activeElement?.closest('[role="dialog"]')), 'focus is in the dialog');
    // Tab stays inside (focus trap), Esc cancels without resetting.
    for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
    assert.ok(await page.evaluate(() => !!document.activeElement?.closest('[role="dialog"]')), 'Tab stays in the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: STEP });
    assert.equal(await page.getByTestId('session-uuid').textContent(), uuid);
    assert.equal(await sessionStatus(daemon, uuid), 200);

    await page.getByTestId('reset-session').click();
    await page.getByRole('dialog').getByTestId('confirm-reset').click();
    const fresh = await shownUuid(page, uuid);
    assert.notEqual(fresh, uuid);
    assert.equal(await validate(daemon, uuid), 410);
    assert.equal(await validate(daemon, fresh), 200);
    assert.equal(await page.evaluate(() => localStorage.getItem('sessiond.uuid')), fresh);
    await toast(page, /session was reset/i);
    await context.close();
  });

  test('a session revoked from the console is replaced on the next load, with a toast saying why', async () => {
    const { context, page, uuid } = await open();
    await daemon.sessionctl('sessions', 'reset', uuid, '--yes');
    assert.equal(await validate(daemon, uuid), 410);
    await page.reload();
    const fresh = await shownUuid(page, uuid);
    assert.notEqual(fresh, uuid);
    await toast(page, /previous session was revoked/i);
    assert.match((await page.getByTestId('last-problem').textContent()) ?? '', /session_revoked/);
    await context.close();
  });

  test('two tabs opened at once end up with one session', async () => {
    const context = await browser.newContext();
    const generated = [];
    context.on('request', (r) => {
      if (r.url().endsWith('/api/session/generate-uuid') && r.method() === 'POST') generated.push(r.url());
    });
    const [a, b] = await Promise.all([context.newPage(), context.newPage()]);
    const url = `${web.origin}/?api=${encodeURIComponent(daemon.url)}`;
    await Promise.all([a.goto(url), b.goto(url)]);
    const [ua, ub] = await Promise.all([shownUuid(a), shownUuid(b)]);
    assert.equal(ua, ub);
    assert.equal(generated.length, 1, 'exactly one session was created');
    assert.equal(await sessionStatus(daemon, ua), 200);
    // A reset in one tab moves the other tab along (storage event).
    await a.getByTestId('reset-session').click();
    await a.getByTestId('confirm-reset').click();
    const fresh = await shownUuid(a, ua);
    assert.equal(await shownUuid(b, ua), fresh);
    await context.close();
  });
});

describe('uploads', () => {
  test('a PDF upload shows progress and appears in the list (screenshot)', async () => {
    const { context, page } = await open();
    await uploadFile(page, 'quarterly-report.pdf', pdf(1_500_000));
    await page.getByRole('progressbar').waitFor({ timeout: STEP });
    await toast(page, /Uploaded quarterly-report\.pdf/);
    assert.equal(await page.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
    await uploadFile(page, 'invoice-2026-001.pdf', pdf(220_000));
    await toast(page, /Uploaded invoice-2026-001\.pdf/);
    const items = await listed(page);
    assert.equal(items.length, 2);
    assert.match(items[0], /invoice-2026-001\.pdf/);
    assert.match(items[1], /quarterly-report\.pdf/);
    mkdirSync(join(repoRoot, 'docs'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'docs/web-demo.png'), fullPage: true });
    await context.close();
  });

  test('a non-PDF and an oversize file each get a clear toast and lose nothing', async () => {
    const { context, page, uuid } = await open();
    await uploadFile(page, 'kept.pdf', pdf(10_000));
    await toast(page, /Uploaded kept\.pdf/);
    await uploadFile(page, 'notes.txt', Buffer.from('just some text'), 'text/plain');
    const notPdf = await toast(page, /Only PDF files/);
    assert.equal(await notPdf.getAttribute('role'), 'alert');
    await uploadFile(page, 'huge.pdf', pdf(6 * 1024 * 1024));
    const tooBig = await toast(page, /too large/);
    assert.equal(await tooBig.getAttribute('role'), 'alert');
    assert.deepEqual((await listed(page)).length, 1);
    assert.equal(await page.getByTestId('session-uuid').textContent(), uuid);
    const onServer = await (await fetch(`${daemon.url}/api/session/${uuid}/uploads`)).json();
    assert.deepEqual(onServer.uploads.map((u) => u.filename), ['kept.pdf']);
    await context.close();
  });

  test('a 429 gets a clear toast and loses nothing', async () => {
    const { context, page, uuid } = await open(limited);
    await uploadFile(page, 'first.pdf', pdf(10_000));
    await toast(page, /Uploaded first\.pdf/);
    await uploadFile(page, 'second.pdf', pdf(10_000));
    const t = await toast(page, /Too many requests; please wait \d+ seconds/);
    assert.equal(await t.getAttribute('role'), 'alert');
    assert.match((await page.getByTestId('last-problem').textContent()) ?? '', /rate_limited/);
    assert.equal(await page.getByTestId('session-uuid').textContent(), uuid);
    const items = await listed(page);
    assert.equal(items.length, 1);
    assert.match(items[0], /first\.pdf/);
    assert.equal(await validate(limited, uuid), 200);
    await context.close();
  });

  test('an upload on a throttled link outlasting the request deadline (5 s) succeeds', async () => {
    const { context, page } = await open();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    // ~100 KB/s up: a 1 MB PDF takes about ten seconds, twice the daemon's request deadline.
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 40,
      downloadThroughput: 1_000_000,
      uploadThroughput: 100_000,
    });
    const t0 = Date.now();
    await uploadFile(page, 'slow-link.pdf', pdf(1_000_000));
    // Progress moves through the middle, not just 0 → 100.
    await page.waitForFunction(
      () => {
        const v = Number(document.querySelector('[role="progressbar"]')?.getAttribute('aria-valuenow'));
        return v > 10 && v < 90;
      },
      null,
      { timeout: 30_000 },
    );
    // Wait for the outcome, whichever it is (the input is enabled again), then require success.
    await page.waitForFunction(() => !document.querySelector('[data-testid="upload-input"]')?.disabled, null, { timeout: 60_000 });
    const outcome = await page.locator('[role="status"], [role="alert"]').last().textContent();
    assert.match(outcome ?? '', /Uploaded slow-link\.pdf/);
    const took = (Date.now() - t0) / 1000;
    assert.ok(took > 5, `the throttled upload took ${took.toFixed(1)} s; it must outlast the 5 s deadline`);
    console.log(`throttled upload: ${took.toFixed(1)} s`);
    assert.match((await listed(page))[0] ?? '', /slow-link\.pdf/);
    await context.close();
  });
});
