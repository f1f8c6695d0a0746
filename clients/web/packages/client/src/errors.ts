import type { components } from './openapi.js';

/** An RFC 9457 problem document as the daemon sends it. */
export type Problem = components['schemas']['Problem'];

/**
 * Every `code` the daemon answers with (SPEC §2). `scripts/openapi.mjs --check` fails the build
 * when daemon/openapi.json names a code missing here.
 */
export const PROBLEM_CODES = ['malformed_json', 'missing_field', 'invalid_uuid_format', 'invalid_text', 'origin_not_allowed', 'forbidden', 'not_found', 'session_not_found', 'method_not_allowed', 'request_timeout', 'session_revoked', 'session_expired', 'payload_too_large', 'unsupported_media_type', 'rate_limited', 'internal_error', 'database_unavailable', 'storage_unavailable', 'invalid_multipart', 'empty_file', 'upload_not_found', 'upload_quota_exceeded', 'file_too_large', 'unsupported_file_type'] as const;

/** A problem code of the daemon. */
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/**
 * What went wrong: a daemon problem code, or one of the client's own:
 * `network_error` (no answer; nothing in storage was touched), `aborted` (the caller's signal),
 * `unknown_problem` (an answer that is not a problem document the client knows).
 */
export type ErrorCode = ProblemCode | 'network_error' | 'aborted' | 'unknown_problem';

/** Every failure of the client, as a value to switch on (`err.code`). */
export class SessiondError extends Error {
  override readonly name = 'SessiondError';
  /** The HTTP status; 0 when no answer came or the client refused before sending. */
  readonly status: number;
  /** `server`: the daemon said so; `client`: the client checked before sending (or got no answer). */
  readonly source: 'server' | 'client';
  /** The daemon's request id (`X-Request-Id`), for support and the audit trail. */
  readonly requestId: string | null;
  /** Seconds to wait before trying again (`Retry-After`), when the answer said. */
  readonly retryAfter: number | null;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    init: { status?: number; source?: 'server' | 'client'; requestId?: string | null; retryAfter?: number | null } = {},
  ) {
    super(`${code}: ${detail}`);
    this.status = init.status ?? 0;
    this.source = init.source ?? 'client';
    this.requestId = init.requestId ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }

  /** The problem document this error carries (client-side errors get one too, for display). */
  toProblem(): Problem {
    return {
      type: `urn:sessiond:problem:${this.code}`,
      title: this.code,
      status: this.status,
      detail: this.detail,
      code: this.code,
      request_id: this.requestId ?? '',
    };
  }
}

/** Is `e` a SessiondError, optionally with one of `codes`? */
export function isSessiondError(e: unknown, ...codes: ErrorCode[]): e is SessiondError {
  return e instanceof SessiondError && (codes.length === 0 || codes.includes(e.code));
}

/** The codes that mean "this session id is gone: start another". */
export const GONE_CODES: readonly ErrorCode[] = ['session_not_found', 'session_revoked', 'session_expired'];

/** Seconds from a `Retry-After` (delta-seconds or HTTP date) or `RateLimit-Reset` header. */
export function retryAfterSeconds(headers: { get(name: string): string | null }): number | null {
  for (const name of ['retry-after', 'ratelimit-reset']) {
    const raw = headers.get(name);
    if (!raw) continue;
    const secs = Number(raw);
    if (Number.isFinite(secs) && secs >= 0) return secs;
    const at = Date.parse(raw);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  return null;
}

/** Turn a non-2xx answer into a SessiondError. */
export function problemError(status: number, body: string, headers: { get(name: string): string | null }): SessiondError {
  let doc: Partial<Problem> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object') doc = parsed as Partial<Problem>;
  } catch {
    // Not JSON (a proxy's error page): unknown_problem below.
  }
  const known = (PROBLEM_CODES as readonly string[]).includes(doc.code ?? '');
  return new SessiondError(known ? (doc.code as ProblemCode) : 'unknown_problem', doc.detail ?? `HTTP ${status}`, {
    status,
    source: 'server',
    requestId: doc.request_id ?? headers.get('x-request-id'),
    retryAfter: retryAfterSeconds(headers),
  });
}
