import { GONE_CODES, SessiondError, isSessiondError, problemError, retryAfterSeconds } from './errors.js';
import type { Problem } from './errors.js';
import type { components } from './openapi.js';

/** A session as `generate-uuid` / `validate-uuid` answer it. */
export type Session = components['schemas']['Session'];
/** One stored PDF. */
export type Upload = components['schemas']['Upload'];

/** Where the client is. */
export type SessionStatus = 'idle' | 'loading' | 'active' | 'error';

/**
 * Why the session id changed: `new_visitor` (nothing stored), `corrupt` (the stored value was
 * not a UUID), `not_found` / `revoked` / `expired` (the daemon refused the stored id), `reset`
 * (this tab's `reset()`), `other_tab` (another tab of the same origin changed it).
 */
export type ChangeReason = 'new_visitor' | 'corrupt' | 'not_found' | 'revoked' | 'expired' | 'reset' | 'other_tab';

/** A snapshot of the client (immutable; a new object on every change). */
export interface SessionState {
  status: SessionStatus;
  /** The session id in use, or null before the first `ensure()`. */
  uuid: string | null;
  /** The daemon's view of it, when known. */
  session: Session | null;
  /** Why the id last changed (null when the stored one was simply confirmed). */
  change: ChangeReason | null;
  /** Counts changes, so a UI tells each one once. */
  changeCount: number;
  /** The error that put the client in `error`. */
  error: SessiondError | null;
  /** The last problem document any call got (for debug panels). */
  lastProblem: Problem | null;
}

/** Something like `localStorage`. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Options of `createSessionClient`. */
export interface SessionClientOptions {
  /** The daemon, e.g. `https://sessions.example.com` (no trailing `/api`). */
  baseUrl: string;
  /** Where the id lives; default `localStorage`, or memory when storage is blocked. */
  storage?: KeyValueStorage;
  /** Default `sessiond.uuid`. */
  storageKey?: string;
  /** Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Largest upload checked before sending; default 5 MiB (the daemon's `uploads.max_bytes` default). */
  maxUploadBytes?: number;
  /** Retries of a 503 answer (backoff with jitter); default 2. */
  maxRetries?: number;
  /** Longest wait between 503 retries, in ms; default 5000. */
  maxRetryDelayMs?: number;
  /** Sent as `user_info` when a session is created. */
  userInfo?: Record<string, unknown>;
}

/** Upload progress. */
export interface UploadProgress {
  loaded: number;
  total: number;
  /** 0..1 */
  fraction: number;
}

/** Options of `upload`. */
export interface UploadOptions {
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
}

/** The client. */
export interface SessionClient {
  getState(): SessionState;
  /** Called on every state change; returns the unsubscribe function. */
  subscribe(listener: (state: SessionState) => void): () => void;
  /** Validate the stored id, or start a new session (saying why). One call at a time per tab; one session across tabs. */
  ensure(): Promise<SessionState>;
  /** Revoke the session on the daemon (its uploads go with it) and start a new one. */
  reset(): Promise<SessionState>;
  /** Upload one PDF with byte progress; checks type and size first. */
  upload(file: Blob, options?: UploadOptions): Promise<Upload>;
  listUploads(): Promise<Upload[]>;
  deleteUpload(id: string): Promise<void>;
  /** A URL the browser can open to download the upload. */
  downloadUrl(id: string): string;
  /** The largest upload the client lets through (learned from the daemon's 413 when it says). */
  readonly maxUploadBytes: number;
  /** Remove listeners (tab sync). */
  destroy(): void;
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function memoryStorage(): KeyValueStorage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

/** `localStorage` when it works (it throws in some privacy modes), else memory. */
function defaultStorage(): KeyValueStorage {
  try {
    const s = globalThis.localStorage;
    const probe = '__sessiond_probe__';
    s.setItem(probe, probe);
    s.removeItem(probe);
    return s;
  } catch {
    return memoryStorage();
  }
}

/** Does `bytes` start like a PDF (leading whitespace up to 1 KiB allowed, as the daemon allows)? */
function looksLikePdf(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && i < 1024 && ' \t\r\n\f\0'.includes(String.fromCharCode(bytes[i] ?? 0))) i++;
  return String.fromCharCode(...bytes.subarray(i, i + 5)) === '%PDF-';
}

/** Create a client. Call `ensure()` once on start. */
export function createSessionClient(options: SessionClientOptions): SessionClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  const storage = options.storage ?? defaultStorage();
  const key = options.storageKey ?? 'sessiond.uuid';
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const maxRetries = options.maxRetries ?? 2;
  const maxDelay = options.maxRetryDelayMs ?? 5000;
  let maxUploadBytes = options.maxUploadBytes ?? 5 * 1024 * 1024;
  /**
   * Until when (epoch ms) the daemon asked us to wait, per route class of its rate limiter
   * (generate, validate, read, upload, delete): calls before then fail without sending.
   */
  const blockedUntil = new Map<string, number>();
  const routeClass = (method: string, path: string) =>
    method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : path.endsWith('/uploads') ? 'upload' : path.slice(13);
  const blocked = (klass: string) => {
    const wait = Math.ceil(((blockedUntil.get(klass) ?? 0) - Date.now()) / 1000);
    return wait > 0
      ? new SessiondError('rate_limited', `too many requests; retry in ${wait} s`, { status: 429, retryAfter: wait })
      : null;
  };

  let state: SessionState = {
    status: 'idle',
    uuid: null,
    session: null,
    change: null,
    changeCount: 0,
    error: null,
    lastProblem: null,
  };
  const listeners = new Set<(s: SessionState) => void>();
  const set = (patch: Partial<SessionState>) => {
    state = { ...state, ...patch };
    for (const l of listeners) l(state);
  };
  const changed = (uuid: string, session: Session | null, change: ChangeReason) =>
    set({ status: 'active', uuid, session, change, changeCount: state.changeCount + 1, error: null });

  const read = (): string | null => {
    try {
      return storage.getItem(key);
    } catch {
      return null;
    }
  };
  const write = (uuid: string) => {
    try {
      storage.setItem(key, uuid);
    } catch {
      // Blocked storage: the id lives for this page only.
    }
  };

  const fail = (e: unknown): never => {
    if (isSessiondError(e) && e.source === 'server') set({ lastProblem: e.toProblem() });
    throw e;
  };

  /** One API call: JSON in and out, 503 retried with backoff and jitter, 429 remembered. */
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const klass = routeClass(method, path);
    for (let attempt = 0; ; attempt++) {
      const refused = blocked(klass);
      if (refused) throw refused;
      let res: Response;
      let text: string;
      try {
        res = await doFetch(base + path, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          body: body === undefined ? null : JSON.stringify(body),
        });
        text = await res.text();
      } catch (e) {
        throw new SessiondError('network_error', `the daemon could not be reached (${String(e)})`);
      }
      if (res.ok) {
        try {
          return (text ? JSON.parse(text) : undefined) as T;
        } catch {
          throw new SessiondError('unknown_problem', `HTTP ${res.status} with a body that is not JSON`, { status: res.status });
        }
      }
      const err = problemError(res.status, text, res.headers);
      if (res.status === 429) blockedUntil.set(klass, Date.now() + (err.retryAfter ?? 1) * 1000);
      if (res.status === 503 && attempt < maxRetries) {
        const hinted = (err.retryAfter ?? 0) * 1000;
        const backoff = Math.min(maxDelay, Math.max(hinted, 250 * 2 ** attempt));
        await sleep(backoff / 2 + Math.random() * (backoff / 2));
        continue;
      }
      throw err;
    }
  }

  /** Start a session; `seen` is what storage held when we decided to. */
  const create = (reason: ChangeReason, seen: string | null) =>
    call<Session>('POST', '/api/session/generate-uuid', options.userInfo ? { user_info: options.userInfo } : undefined).then(
      (s) => {
        // Without Web Locks another tab may have stored an id meanwhile: adopt it, so the tabs agree.
        const now = read();
        if (!hasLocks() && reason !== 'reset' && now && now !== seen && UUID_V4.test(now)) {
          changed(now, null, reason);
          return;
        }
        write(s.uuid);
        changed(s.uuid, s, reason);
      },
    );

  const hasLocks = () => typeof navigator !== 'undefined' && !!navigator.locks;
  /** Run `fn` holding the cross-tab lock (Web Locks API where present). */
  const locked = <T>(fn: () => Promise<T>): Promise<T> =>
    hasLocks() ? (navigator.locks.request(`sessiond:${key}`, fn) as Promise<T>) : fn();

  async function doEnsure(): Promise<SessionState> {
    set({ status: 'loading', error: null });
    try {
      await locked(async () => {
        const stored = read();
        if (!stored) return create('new_visitor', stored);
        if (!UUID_V4.test(stored)) return create('corrupt', stored);
        try {
          const s = await call<Session>('POST', '/api/session/validate-uuid', { uuid: stored });
          if (stored !== state.uuid) {
            // Adopted from storage (first load, or another tab): not a change the user must hear about.
            set({ status: 'active', uuid: stored, session: s, change: null, error: null });
          } else {
            set({ status: 'active', session: s, error: null });
          }
        } catch (e) {
          if (isSessiondError(e, ...GONE_CODES, 'invalid_uuid_format')) {
            set({ lastProblem: e.toProblem() });
            const why: ChangeReason =
              e.code === 'session_revoked' ? 'revoked' : e.code === 'session_expired' ? 'expired' : e.code === 'session_not_found' ? 'not_found' : 'corrupt';
            return create(why, stored);
          }
          throw e;
        }
      });
    } catch (e) {
      const err = isSessiondError(e) ? e : new SessiondError('unknown_problem', String(e));
      set({ status: 'error', error: err, lastProblem: err.source === 'server' ? err.toProblem() : state.lastProblem });
    }
    return state;
  }

  let pending: Promise<SessionState> | null = null;
  const ensure = () => (pending ??= doEnsure().finally(() => (pending = null)));

  /** The session id, after `ensure()` when there is none yet. */
  async function current(): Promise<string> {
    if (state.status !== 'active' || !state.uuid) await ensure();
    if (!state.uuid || state.status !== 'active') throw state.error ?? new SessiondError('unknown_problem', 'no session');
    return state.uuid;
  }

  /** A session-scoped call: a "gone" answer starts the replacement (the caller still gets the error). */
  async function scoped<T>(fn: (uuid: string) => Promise<T>): Promise<T> {
    const uuid = await current();
    try {
      return await fn(uuid);
    } catch (e) {
      if (isSessiondError(e, ...GONE_CODES) && state.uuid === uuid) void ensure();
      return fail(e);
    }
  }

  // Tabs of one origin share the id: another tab's write arrives as a `storage` event.
  const onStorage = (ev: StorageEvent) => {
    // Before this tab has a session its pending ensure() reads storage under the lock anyway.
    if (ev.key !== key || !state.uuid || !ev.newValue || ev.newValue === state.uuid || !UUID_V4.test(ev.newValue)) return;
    changed(ev.newValue, null, 'other_tab');
  };
  if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
    window.addEventListener('storage', onStorage);
  }

  function upload(file: Blob, opts: UploadOptions = {}): Promise<Upload> {
    return scoped(async (uuid) => {
      if (file.size === 0) throw new SessiondError('empty_file', 'the file is empty');
      if (file.size > maxUploadBytes) {
        throw new SessiondError('file_too_large', `the file is over the limit of ${maxUploadBytes} bytes`);
      }
      const head = new Uint8Array(await file.slice(0, 1029).arrayBuffer());
      if (!looksLikePdf(head)) {
        throw new SessiondError('unsupported_file_type', 'only PDF files are accepted');
      }
      const refused = blocked('upload');
      if (refused) throw refused;
      const form = new FormData();
      form.append('file', file, (file as File).name || 'upload.pdf');
      const xhr = new XMLHttpRequest();
      const done = new Promise<Upload>((resolve, reject) => {
        const abort = () => xhr.abort();
        opts.signal?.addEventListener('abort', abort);
        const settle = () => opts.signal?.removeEventListener('abort', abort);
        xhr.upload.onprogress = (ev) => {
          const total = ev.lengthComputable ? ev.total : file.size;
          opts.onProgress?.({ loaded: ev.loaded, total, fraction: total ? Math.min(1, ev.loaded / total) : 0 });
        };
        xhr.onload = () => {
          settle();
          const headers = { get: (n: string) => xhr.getResponseHeader(n) };
          if (xhr.status === 201) {
            try {
              resolve(JSON.parse(xhr.responseText) as Upload);
            } catch {
              reject(new SessiondError('unknown_problem', 'the upload answer is not JSON', { status: 201 }));
            }
            return;
          }
          const err = problemError(xhr.status, xhr.responseText, headers);
          if (xhr.status === 429) blockedUntil.set('upload', Date.now() + (retryAfterSeconds(headers) ?? 1) * 1000);
          const learned = err.code === 'file_too_large' ? /(\d+) bytes/.exec(err.detail) : null;
          if (learned) maxUploadBytes = Number(learned[1]);
          reject(err);
        };
        xhr.onerror = xhr.ontimeout = () => {
          settle();
          reject(new SessiondError('network_error', 'the upload could not reach the daemon'));
        };
        xhr.onabort = () => {
          settle();
          reject(new SessiondError('aborted', 'the upload was cancelled'));
        };
      });
      if (opts.signal?.aborted) throw new SessiondError('aborted', 'the upload was cancelled');
      xhr.open('POST', `${base}/api/session/${uuid}/uploads`);
      xhr.send(form);
      return done;
    });
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    ensure,
    async reset() {
      const old = state.uuid ?? read();
      set({ status: 'loading', error: null });
      try {
        await locked(async () => {
          if (old && UUID_V4.test(old)) {
            try {
              await call<void>('DELETE', `/api/session/${old}`);
            } catch (e) {
              if (!isSessiondError(e, 'session_not_found', 'invalid_uuid_format')) throw e;
            }
          }
          await create('reset', old);
        });
      } catch (e) {
        const err = isSessiondError(e) ? e : new SessiondError('unknown_problem', String(e));
        set({ status: 'error', error: err, lastProblem: err.source === 'server' ? err.toProblem() : state.lastProblem });
        throw err;
      }
      return state;
    },
    upload,
    listUploads: () =>
      scoped((uuid) => call<{ uploads: Upload[] }>('GET', `/api/session/${uuid}/uploads`).then((r) => r.uploads)),
    deleteUpload: (id) => scoped((uuid) => call<void>('DELETE', `/api/session/${uuid}/uploads/${encodeURIComponent(id)}`)),
    downloadUrl: (id) => `${base}/api/session/${state.uuid ?? ''}/uploads/${encodeURIComponent(id)}`,
    get maxUploadBytes() {
      return maxUploadBytes;
    },
    destroy() {
      listeners.clear();
      if (typeof window !== 'undefined' && typeof window.removeEventListener === 'function') {
        window.removeEventListener('storage', onStorage);
      }
    },
  };
}
