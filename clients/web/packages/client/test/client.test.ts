// The client's state machine against a real sessiond (no HTTP mocks: every answer below comes
// from the daemon). Node lacks XMLHttpRequest, so uploads go through test/xhr-stub.ts.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionClient, isSessiondError, SessiondError } from '../src/index.js';
import type { KeyValueStorage, SessionClientOptions } from '../src/index.js';
import { startDaemon } from '../../../scripts/daemon.mjs';
import type { Daemon } from '../../../scripts/daemon.mjs';
import { XhrStub } from './xhr-stub.js';

(globalThis as unknown as { XMLHttpRequest: unknown }).XMLHttpRequest = XhrStub;

const KEY = 'sessiond.uuid';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function memory(initial?: string): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>(initial ? [[KEY, initial]] : []);
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

/** The real fetch, counting calls per "METHOD path". */
function countingFetch() {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
    return fetch(input, init);
  };
  return { calls, fetch: f };
}

const pdf = (bytes: number, name = 'doc.pdf') =>
  new File(['%PDF-1.4\n', new Uint8Array(Math.max(0, bytes - 9)).fill(65)], name, { type: 'application/pdf' });

async function status(d: Daemon, uuid: string): Promise<number> {
  return (await fetch(`${d.url}/api/session/${uuid}`)).status;
}

let d: Daemon;
const client = (opts: Partial<SessionClientOptions> = {}) => createSessionClient({ baseUrl: d.url, storage: memory(), ...opts });

beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  await d?.stop();
});

describe('ensure()', () => {
  it('creates, stores and reports a new visitor; the daemon knows the id', async () => {
    const storage = memory();
    const c = client({ storage });
    const seen: string[] = [];
    c.subscribe((s) => seen.push(s.status));
    const s = await c.ensure();
    expect(s.status).toBe('active');
    expect(s.change).toBe('new_visitor');
    expect(s.uuid).toMatch(UUID_V4);
    expect(storage.data.get(KEY)).toBe(s.uuid);
    expect(seen).toEqual(['loading', 'active']);
    expect(await status(d, s.uuid!)).toBe(200);
  });

  it('keeps a stored live id and says nothing changed', async () => {
    const first = await client().ensure();
    const storage = memory(first.uuid!);
    const s = await client({ storage }).ensure();
    expect(s.uuid).toBe(first.uuid);
    expect(s.change).toBeNull();
    expect(s.session?.status).toBe('active');
  });

  it('replaces a corrupt stored value', async () => {
    const storage = memory('not-a-uuid');
    const s = await client({ storage }).ensure();
    expect(s.change).toBe('corrupt');
    expect(storage.data.get(KEY)).toBe(s.uuid);
  });

  it('replaces an id the daemon does not know (404 session_not_found)', async () => {
    const storage = memory('0b9d4a63-2f43-4b6e-9d1c-3a1f5e2b7c80');
    const s = await client({ storage }).ensure();
    expect(s.change).toBe('not_found');
    expect(s.lastProblem?.code).toBe('session_not_found');
    expect(s.uuid).not.toBe('0b9d4a63-2f43-4b6e-9d1c-3a1f5e2b7c80');
  });

  it('replaces a revoked id (410 session_revoked) and says why', async () => {
    const old = (await client().ensure()).uuid!;
    expect((await fetch(`${d.url}/api/session/${old}`, { method: 'DELETE' })).status).toBe(204);
    const storage = memory(old);
    const s = await client({ storage }).ensure();
    expect(s.change).toBe('revoked');
    expect(s.lastProblem?.code).toBe('session_revoked');
    expect(s.uuid).not.toBe(old);
    expect(storage.data.get(KEY)).toBe(s.uuid);
  });

  it('replaces an expired id (410 session_expired) and says why', async () => {
    const short = await startDaemon({ env: { SESSIOND_SESSION__IDLE_TIMEOUT: '1s', SESSIOND_SESSION__TOUCH_INTERVAL: '0s' } });
    try {
      const storage = memory();
      const old = (await createSessionClient({ baseUrl: short.url, storage }).ensure()).uuid!;
      // Expiry is checked on every read: poll (bounded) until the daemon calls it expired.
      for (let i = 0; i < 100 && (await status(short, old)) !== 410; i++) await new Promise((r) => setTimeout(r, 50));
      const s = await createSessionClient({ baseUrl: short.url, storage }).ensure();
      expect(s.change).toBe('expired');
      expect(s.lastProblem?.code).toBe('session_expired');
      expect(s.uuid).not.toBe(old);
    } finally {
      await short.stop();
    }
  });

  it('concurrent calls in one tab make one request', async () => {
    const { calls, fetch: f } = countingFetch();
    const c = client({ fetch: f });
    const [a, b] = await Promise.all([c.ensure(), c.ensure()]);
    expect(a.uuid).toBe(b.uuid);
    expect(calls).toEqual(['POST /api/session/generate-uuid']);
  });

  it('two clients (tabs) on one storage share the session', async () => {
    const storage = memory();
    const a = await client({ storage }).ensure();
    const b = await client({ storage }).ensure();
    expect(b.uuid).toBe(a.uuid);
    expect(b.change).toBeNull();
  });
});

describe('reset()', () => {
  it('revokes the old id (410 afterwards) and starts a new one', async () => {
    const storage = memory();
    const c = client({ storage });
    const old = (await c.ensure()).uuid!;
    const s = await c.reset();
    expect(s.change).toBe('reset');
    expect(s.uuid).not.toBe(old);
    expect(storage.data.get(KEY)).toBe(s.uuid);
    expect(await status(d, old)).toBe(410);
    expect(await status(d, s.uuid!)).toBe(200);
  });
});

describe('uploads', () => {
  it('uploads with byte progress, lists, downloads and deletes', async () => {
    const c = client();
    await c.ensure();
    const progress: number[] = [];
    const up = await c.upload(pdf(200_000, 'report.pdf'), { onProgress: (p) => progress.push(p.fraction) });
    expect(up.filename).toBe('report.pdf');
    expect(up.size).toBe(200_000);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.at(-1)).toBe(1);
    expect([...progress].sort((x, y) => x - y)).toEqual(progress);
    const list = await c.listUploads();
    expect(list.map((u) => u.id)).toEqual([up.id]);
    const file = await fetch(c.downloadUrl(up.id));
    expect(file.status).toBe(200);
    expect((await file.arrayBuffer()).byteLength).toBe(200_000);
    await c.deleteUpload(up.id);
    expect(await c.listUploads()).toEqual([]);
  });

  it('an aborted upload rejects with `aborted` and stores nothing', async () => {
    const c = client();
    await c.ensure();
    const ac = new AbortController();
    const err = await c
      .upload(pdf(2_000_000), { signal: ac.signal, onProgress: (p) => p.fraction > 0.2 && ac.abort() })
      .catch((e: unknown) => e);
    expect(isSessiondError(err, 'aborted')).toBe(true);
    // The daemon discards the partial body; the list stays empty.
    expect(await c.listUploads()).toEqual([]);
  });

  it('refuses non-PDF, empty and oversize files before sending anything', async () => {
    const c = client({ maxUploadBytes: 100_000 });
    await c.ensure();
    const before = XhrStub.sent;
    const codes: string[] = [];
    for (const f of [
      new File(['hello, not a pdf'], 'notes.pdf', { type: 'application/pdf' }),
      new File([], 'empty.pdf'),
      pdf(100_001),
    ]) {
      const err = await c.upload(f).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessiondError);
      codes.push((err as SessiondError).code);
      expect((err as SessiondError).source).toBe('client');
    }
    expect(codes).toEqual(['unsupported_file_type', 'empty_file', 'file_too_large']);
    expect(XhrStub.sent).toBe(before);
    expect(c.getState().status).toBe('active');
  });

  it('maps a server refusal to a typed error (409 upload_quota_exceeded)', async () => {
    const limited = await startDaemon({ env: { SESSIOND_UPLOADS__MAX_PER_SESSION: '1' } });
    try {
      const c = createSessionClient({ baseUrl: limited.url, storage: memory() });
      await c.ensure();
      await c.upload(pdf(1000));
      const err = await c.upload(pdf(1000)).catch((e: unknown) => e);
      expect(isSessiondError(err, 'upload_quota_exceeded')).toBe(true);
      expect((err as SessiondError).status).toBe(409);
      expect((err as SessiondError).requestId).toBeTruthy();
      expect(await c.listUploads()).toHaveLength(1);
    } finally {
      await limited.stop();
    }
  });

  it('an upload to a revoked session fails typed and the client moves to a new session', async () => {
    const c = client();
    const old = (await c.ensure()).uuid!;
    await fetch(`${d.url}/api/session/${old}`, { method: 'DELETE' });
    const err = await c.upload(pdf(1000)).catch((e: unknown) => e);
    expect(isSessiondError(err, 'session_revoked')).toBe(true);
    for (let i = 0; i < 200 && c.getState().uuid === old; i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.getState().change).toBe('revoked');
    expect(c.getState().uuid).not.toBe(old);
  });
});

describe('refusals and failures', () => {
  it('429: typed error with Retry-After, then no requests until it passes; nothing lost', async () => {
    const limited = await startDaemon({
      env: {
        SESSIOND_RATE_LIMIT__ENABLED: 'true',
        SESSIOND_RATE_LIMIT__DEFAULT: '1000/minute',
        SESSIOND_RATE_LIMIT__ROUTES__READ: '2/minute',
      },
    });
    try {
      const storage = memory();
      const { calls, fetch: f } = countingFetch();
      const c = createSessionClient({ baseUrl: limited.url, storage, fetch: f });
      const uuid = (await c.ensure()).uuid;
      await c.listUploads();
      await c.listUploads();
      const err = await c.listUploads().catch((e: unknown) => e);
      expect(isSessiondError(err, 'rate_limited')).toBe(true);
      expect((err as SessiondError).status).toBe(429);
      expect((err as SessiondError).retryAfter).toBeGreaterThan(0);
      const sent = calls.length;
      const again = await c.listUploads().catch((e: unknown) => e);
      expect(isSessiondError(again, 'rate_limited')).toBe(true);
      expect(calls.length).toBe(sent); // answered locally: no retry storm
      // Only that route class waits: validating (another class) still goes out and succeeds.
      expect((await c.ensure()).status).toBe('active');
      expect(calls.at(-1)).toBe('POST /api/session/validate-uuid');
      expect(storage.data.get(KEY)).toBe(uuid);
      expect(c.getState().status).toBe('active');
    } finally {
      await limited.stop();
    }
  });

  it('503: retried with backoff until the database is back; bounded when it stays down', async () => {
    const broken = await startDaemon();
    const db = join(broken.dir, 'sessiond.db');
    const sql = (stmt: string) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, stmt]);
    try {
      const { calls, fetch: f } = countingFetch();
      const c = createSessionClient({ baseUrl: broken.url, storage: memory(), fetch: f, maxRetries: 3, maxRetryDelayMs: 400 });
      sql('ALTER TABLE audit_events RENAME TO audit_events_away');
      const pending = c.ensure();
      // Repair once the first 503 has been answered.
      for (let i = 0; i < 500 && calls.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      sql('ALTER TABLE audit_events_away RENAME TO audit_events');
      const s = await pending;
      expect(s.status).toBe('active');
      expect(calls.length).toBeGreaterThanOrEqual(2);

      sql('ALTER TABLE audit_events RENAME TO audit_events_away');
      const before = calls.length;
      const down = await createSessionClient({ baseUrl: broken.url, storage: memory(), fetch: f, maxRetries: 2, maxRetryDelayMs: 100 }).ensure();
      expect(down.status).toBe('error');
      expect(down.error?.code).toBe('database_unavailable');
      expect(down.error?.retryAfter).toBe(5);
      expect(calls.length - before).toBe(3); // one try and two retries, then it stops
      sql('ALTER TABLE audit_events_away RENAME TO audit_events');
    } finally {
      await broken.stop();
    }
  });

  it('network failure: typed error, the stored id is kept', async () => {
    const gone = await startDaemon();
    const storage = memory();
    const c = createSessionClient({ baseUrl: gone.url, storage });
    const uuid = (await c.ensure()).uuid;
    await gone.stop();
    const s = await c.ensure();
    expect(s.status).toBe('error');
    expect(s.error?.code).toBe('network_error');
    expect(storage.data.get(KEY)).toBe(uuid);
    const err = await c.listUploads().catch((e: unknown) => e);
    expect(isSessiondError(err, 'network_error')).toBe(true);
  });
});
