/** A running sessiond (see daemon.mjs). */
export interface Daemon {
  url: string;
  dir: string;
  env: Record<string, string>;
  logs: string[];
  stop(): Promise<void>;
  sessionctl(...args: string[]): Promise<string>;
}
export const repoRoot: string;
export function startDaemon(options?: { env?: Record<string, string>; readyTimeoutMs?: number }): Promise<Daemon>;
