export { createSessionClient } from './client.js';
export type {
  ChangeReason,
  KeyValueStorage,
  Session,
  SessionClient,
  SessionClientOptions,
  SessionState,
  SessionStatus,
  Upload,
  UploadOptions,
  UploadProgress,
} from './client.js';
export { GONE_CODES, PROBLEM_CODES, SessiondError, isSessiondError } from './errors.js';
export type { ErrorCode, Problem, ProblemCode } from './errors.js';
export type { components, paths } from './openapi.js';
