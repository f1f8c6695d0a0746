import { Component, createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { ErrorInfo, KeyboardEvent, ReactNode } from 'react';
import { SessiondError, isSessiondError } from '@sessiond/client';
import type { ChangeReason, SessionClient, SessionState, Upload, UploadProgress } from '@sessiond/client';

// ---------------------------------------------------------------------------------------------
// Provider: one reducer holds the client's state and the session's uploads.

/** What the provider holds. */
export interface SessionStore {
  session: SessionState;
  uploads: Upload[];
  uploadsStatus: 'idle' | 'loading' | 'ready' | 'error';
}

type Action =
  | { type: 'session'; state: SessionState }
  | { type: 'uploads-loading' }
  | { type: 'uploads'; uploads: Upload[] }
  | { type: 'uploads-failed' }
  | { type: 'uploaded'; upload: Upload }
  | { type: 'removed'; id: string };

function reducer(store: SessionStore, action: Action): SessionStore {
  switch (action.type) {
    case 'session':
      // A different session id: its uploads are not ours to show.
      return action.state.uuid === store.session.uuid
        ? { ...store, session: action.state }
        : { session: action.state, uploads: [], uploadsStatus: 'idle' };
    case 'uploads-loading':
      return { ...store, uploadsStatus: 'loading' };
    case 'uploads':
      return { ...store, uploads: action.uploads, uploadsStatus: 'ready' };
    case 'uploads-failed':
      return { ...store, uploadsStatus: 'error' };
    case 'uploaded':
      return { ...store, uploads: [action.upload, ...store.uploads.filter((u) => u.id !== action.upload.id)] };
    case 'removed':
      return { ...store, uploads: store.uploads.filter((u) => u.id !== action.id) };
  }
}

interface Ctx {
  client: SessionClient;
  store: SessionStore;
  dispatch: (a: Action) => void;
  refreshUploads: () => Promise<void>;
}

const SessionContext = createContext<Ctx | null>(null);

function useCtx(): Ctx {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error('sessiond: wrap the app in <SessionProvider>');
  return ctx;
}

/** Makes `client` available to the hooks below and calls `ensure()` on mount. */
export function SessionProvider({ client, children }: { client: SessionClient; children?: ReactNode }) {
  const [store, dispatch] = useReducer(reducer, undefined, () => ({
    session: client.getState(),
    uploads: [],
    uploadsStatus: 'idle' as const,
  }));
  useEffect(() => {
    const off = client.subscribe((state) => dispatch({ type: 'session', state }));
    dispatch({ type: 'session', state: client.getState() });
    void client.ensure();
    return off;
  }, [client]);

  const refreshUploads = useCallback(async () => {
    dispatch({ type: 'uploads-loading' });
    try {
      dispatch({ type: 'uploads', uploads: await client.listUploads() });
    } catch {
      dispatch({ type: 'uploads-failed' });
    }
  }, [client]);

  // Load the list whenever an active session has not been listed yet.
  const { status, uuid } = store.session;
  useEffect(() => {
    if (status === 'active' && uuid && store.uploadsStatus === 'idle') void refreshUploads();
  }, [status, uuid, store.uploadsStatus, refreshUploads]);

  const value = useMemo(() => ({ client, store, dispatch, refreshUploads }), [client, store, refreshUploads]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** The session state, and `reset`/`ensure`. */
export function useSession() {
  const { client, store } = useCtx();
  return {
    ...store.session,
    client,
    ensure: client.ensure,
    reset: client.reset,
  };
}

/** Just the session id (null until known). */
export function useSessionUUID(): string | null {
  return useCtx().store.session.uuid;
}

/** The session's uploads, newest first, with `refresh` and `remove`. */
export function useUploads() {
  const { client, store, dispatch, refreshUploads } = useCtx();
  const remove = useCallback(
    async (id: string) => {
      await client.deleteUpload(id);
      dispatch({ type: 'removed', id });
    },
    [client, dispatch],
  );
  return { uploads: store.uploads, status: store.uploadsStatus, refresh: refreshUploads, remove, downloadUrl: client.downloadUrl };
}

/** Upload with progress state; a finished upload joins `useUploads()`'s list. */
export function useUpload() {
  const { client, dispatch } = useCtx();
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [error, setError] = useState<SessiondError | null>(null);
  const [uploading, setUploading] = useState(false);
  const controller = useRef<AbortController | null>(null);

  const upload = useCallback(
    async (file: Blob): Promise<Upload> => {
      controller.current?.abort();
      const ac = new AbortController();
      controller.current = ac;
      setUploading(true);
      setError(null);
      setProgress({ loaded: 0, total: file.size, fraction: 0 });
      try {
        const up = await client.upload(file, { signal: ac.signal, onProgress: setProgress });
        dispatch({ type: 'uploaded', upload: up });
        return up;
      } catch (e) {
        const err = isSessiondError(e) ? e : new SessiondError('unknown_problem', String(e));
        setError(err);
        throw err;
      } finally {
        if (controller.current === ac) controller.current = null;
        setUploading(false);
      }
    },
    [client, dispatch],
  );
  const cancel = useCallback(() => controller.current?.abort(), []);
  return { upload, cancel, progress, uploading, error };
}

// ---------------------------------------------------------------------------------------------
// Toasts: a hook that works with any toast library, and a small default.

/** One message for the user. `error` toasts are announced assertively (`role="alert"`). */
export interface Toast {
  id: number;
  kind: 'info' | 'success' | 'error';
  message: string;
}
type Notify = (t: Omit<Toast, 'id'>) => void;

const ToastContext = createContext<{ toasts: Toast[]; notify: Notify; dismiss: (id: number) => void } | null>(null);

/** Holds the default toasts (use `<Toaster/>` to show them). */
export function ToastProvider({ children, timeoutMs = 8000 }: { children?: ReactNode; timeoutMs?: number }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((t) => t.id !== id)), []);
  const notify = useCallback<Notify>(
    (t) => {
      const id = next.current++;
      setToasts((ts) => [...ts, { ...t, id }]);
      if (timeoutMs > 0) setTimeout(() => dismiss(id), timeoutMs);
    },
    [dismiss, timeoutMs],
  );
  const value = useMemo(() => ({ toasts, notify, dismiss }), [toasts, notify, dismiss]);
  return <ToastContext.Provider value={value}>{children}</ToastContext.Provider>;
}

/** `notify` of the default toasts (or pass your library's function to `useSessionToasts`). */
export function useToast() {
  const ctx = useContext(ToastContext);
  if (!ctx) throw new Error('sessiond: wrap the app in <ToastProvider> or pass your own notify');
  return ctx;
}

/** The default toast list: each toast in a `role="status"` (or `role="alert"` for errors) element. */
export function Toaster() {
  const { toasts, dismiss } = useToast();
  return (
    <div className="sessiond-toaster" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} role={t.kind === 'error' ? 'alert' : 'status'} className={`sessiond-toast sessiond-toast-${t.kind}`} data-kind={t.kind}>
          <span>{t.message}</span>
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

const REASONS: Record<ChangeReason, string> = {
  new_visitor: 'Welcome! A new session was started for you.',
  corrupt: 'Your saved session id was unreadable, so a new session was started.',
  not_found: 'Your previous session no longer exists, so a new one was started.',
  revoked: 'Your previous session was revoked (reset by you or an administrator), so a new one was started.',
  expired: 'Your previous session expired, so a new one was started.',
  reset: 'Your session was reset. You have a new session id.',
  other_tab: 'Your session changed in another tab; this tab follows it.',
};

/** A sentence for the user about `err`. */
export function describeError(err: SessiondError): string {
  switch (err.code) {
    case 'file_too_large':
      return `That file is too large: ${err.detail}.`;
    case 'unsupported_file_type':
      return 'Only PDF files can be uploaded.';
    case 'empty_file':
      return 'That file is empty.';
    case 'rate_limited':
      return `Too many requests; please wait ${err.retryAfter ?? 'a few'} seconds and try again.`;
    case 'upload_quota_exceeded':
      return `You have reached the upload limit: ${err.detail}.`;
    case 'network_error':
      return 'The server could not be reached. Check your connection; nothing was lost.';
    case 'aborted':
      return 'The upload was cancelled.';
    case 'session_revoked':
    case 'session_expired':
    case 'session_not_found':
      return 'Your session ended; a new one is being started.';
    case 'database_unavailable':
    case 'storage_unavailable':
      return 'The service is busy right now; please try again shortly.';
    default:
      return err.detail || 'Something went wrong.';
  }
}

/** Tell the user, through `notify` (any toast library), whenever the session id changes and why. */
export function useSessionToasts(notify: Notify) {
  const { change, changeCount, status, error } = useSession();
  const seen = useRef(0);
  useEffect(() => {
    if (changeCount > seen.current && change) {
      seen.current = changeCount;
      notify({ kind: change === 'new_visitor' || change === 'reset' ? 'success' : 'info', message: REASONS[change] });
    }
  }, [change, changeCount, notify]);
  useEffect(() => {
    if (status === 'error' && error) notify({ kind: 'error', message: describeError(error) });
  }, [status, error, notify]);
}

// ---------------------------------------------------------------------------------------------
// The reset dialog.

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

/**
 * An accessible confirmation for `reset()`: a modal `role="dialog"` that traps focus, closes on
 * Esc, gives focus back on close, and names what will be lost.
 */
export function SessionResetDialog({
  open,
  onCancel,
  onConfirm,
  uploadCount,
  busy = false,
}: {
  open: boolean;
  onCancel: () => void;
  onConfirm: () => void;
  uploadCount: number;
  busy?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const uuid = useSessionUUID();
  useEffect(() => {
    if (!open) return;
    const before = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    return () => before?.focus();
  }, [open]);
  if (!open) return null;
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      onCancel();
    } else if (e.key === 'Tab' && ref.current) {
      const items = Array.from(ref.current.querySelectorAll<HTMLElement>(FOCUSABLE));
      const first = items[0];
      const last = items[items.length - 1];
      if (!first || !last) return;
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  };
  const files = uploadCount === 1 ? '1 uploaded file' : `${uploadCount} uploaded files`;
  return (
    <div className="sessiond-backdrop">
      <div
        ref={ref}
        role="dialog"
        aria-modal="true"
        aria-labelledby="sessiond-reset-title"
        aria-describedby="sessiond-reset-desc"
        className="sessiond-dialog"
        onKeyDown={onKeyDown}
      >
        <h2 id="sessiond-reset-title">Reset your session?</h2>
        <p id="sessiond-reset-desc">
          This permanently deletes your {files} and ends session <code>{uuid}</code>. A new, empty session starts
          right away. This cannot be undone.
        </p>
        <div className="sessiond-dialog-actions">
          <button type="button" onClick={onCancel} data-autofocus>
            Cancel
          </button>
          <button type="button" onClick={onConfirm} disabled={busy} data-testid="confirm-reset" className="danger">
            Delete and reset
          </button>
        </div>
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Error boundary.

/** Catches render errors below it and shows `fallback(error, retry)`. */
export class SessionErrorBoundary extends Component<
  { children?: ReactNode; fallback: (error: Error, retry: () => void) => ReactNode; onError?: (e: Error, info: ErrorInfo) => void },
  { error: Error | null }
> {
  override state: { error: Error | null } = { error: null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override componentDidCatch(error: Error, info: ErrorInfo) {
    this.props.onError?.(error, info);
  }
  override render() {
    return this.state.error ? this.props.fallback(this.state.error, () => this.setState({ error: null })) : this.props.children;
  }
}
