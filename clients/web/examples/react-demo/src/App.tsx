import { useRef, useState } from 'react';
import type { ChangeEvent } from 'react';
import { isSessiondError } from '@sessiond/client';
import {
  SessionResetDialog,
  Toaster,
  describeError,
  useSession,
  useSessionToasts,
  useToast,
  useUpload,
  useUploads,
} from '@sessiond/react';

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function App({ api }: { api: string }) {
  const session = useSession();
  const { notify } = useToast();
  useSessionToasts(notify);
  const { uploads, status: uploadsStatus, remove, downloadUrl } = useUploads();
  const { upload, cancel, progress, uploading } = useUpload();
  const [dialogOpen, setDialogOpen] = useState(false);
  const [resetting, setResetting] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      const up = await upload(file);
      notify({ kind: 'success', message: `Uploaded ${up.filename} (${bytes(up.size)}).` });
    } catch (err) {
      if (isSessiondError(err)) notify({ kind: 'error', message: describeError(err) });
    } finally {
      if (input.current) input.current.value = '';
    }
  };

  const onReset = async () => {
    setResetting(true);
    try {
      await session.reset();
    } catch (err) {
      if (isSessiondError(err)) notify({ kind: 'error', message: describeError(err) });
    } finally {
      setResetting(false);
      setDialogOpen(false);
    }
  };

  const onDelete = async (id: string, name: string) => {
    try {
      await remove(id);
      notify({ kind: 'info', message: `Deleted ${name}.` });
    } catch (err) {
      if (isSessiondError(err)) notify({ kind: 'error', message: describeError(err) });
    }
  };

  const pct = progress ? Math.round(progress.fraction * 100) : 0;
  return (
    <main>
      <h1>sessiond demo</h1>

      <section aria-labelledby="session-h">
        <h2 id="session-h">Your session</h2>
        <p>
          Session id: <code data-testid="session-uuid">{session.uuid ?? ''}</code>{' '}
          <span className={`badge badge-${session.status}`}>{session.status}</span>
        </p>
        {session.session && <p className="muted">Expires {new Date(session.session.expires_at).toLocaleString()}</p>}
        <button type="button" data-testid="reset-session" onClick={() => setDialogOpen(true)} disabled={session.status !== 'active'}>
          Reset session
        </button>
        {session.status === 'error' && (
          <button type="button" onClick={() => void session.ensure()}>
            Retry
          </button>
        )}
      </section>

      <section aria-labelledby="upload-h">
        <h2 id="upload-h">Upload a PDF</h2>
        <label>
          PDF file (at most {bytes(session.client.maxUploadBytes)}):{' '}
          <input
            ref={input}
            type="file"
            accept="application/pdf,.pdf"
            data-testid="upload-input"
            onChange={(e) => void onFile(e)}
            disabled={session.status !== 'active' || uploading}
          />
        </label>
        {progress && (
          <div className="progress-row">
            <div
              role="progressbar"
              aria-label="Upload progress"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct}
              className="progress"
            >
              <div className="progress-fill" style={{ width: `${pct}%` }} />
            </div>
            <span>
              {pct}% ({bytes(progress.loaded)} of {bytes(progress.total)})
            </span>
            {uploading && (
              <button type="button" onClick={cancel}>
                Cancel
              </button>
            )}
          </div>
        )}
        <h3>Your uploads ({uploads.length})</h3>
        <ul data-testid="upload-list" data-status={uploadsStatus}>
          {uploads.map((u) => (
            <li key={u.id}>
              <a href={downloadUrl(u.id)}>{u.filename}</a> <span className="muted">{bytes(u.size)}</span>{' '}
              <button type="button" onClick={() => void onDelete(u.id, u.filename)} aria-label={`Delete ${u.filename}`}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      </section>

      <details className="debug" open>
        <summary>Development controls</summary>
        <dl>
          <dt>API</dt>
          <dd>
            <code>{api}</code>
          </dd>
          <dt>State</dt>
          <dd>
            <code data-testid="debug-state">
              {JSON.stringify({ status: session.status, change: session.change, changes: session.changeCount })}
            </code>
          </dd>
          <dt>Force-expire hint</dt>
          <dd>
            Revoke this session from the console, then reload: <code>sessionctl sessions reset {session.uuid ?? '<uuid>'} --yes</code>
          </dd>
          <dt>Last problem document</dt>
          <dd>
            <pre data-testid="last-problem">{session.lastProblem ? JSON.stringify(session.lastProblem, null, 2) : 'none'}</pre>
          </dd>
        </dl>
      </details>

      <SessionResetDialog
        open={dialogOpen}
        busy={resetting}
        uploadCount={uploads.length}
        onCancel={() => setDialogOpen(false)}
        onConfirm={() => void onReset()}
      />
      <Toaster />
    </main>
  );
}
