// Starts a real sessiond for the web client's tests: the binary `cargo build` made
// (target/debug/sessiond, or $SESSIOND_BIN), on 127.0.0.1 with a port the kernel picks, a fresh
// SQLite database and object directory in a temporary folder. Nothing is built here.
//
// The port is read from the daemon's own "sessiond ready" log line (no port guessing), then
// /readyz is polled until it answers 200 — bounded in time, no fixed sleeps.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');
const binary = (name) => {
  const env = name === 'sessiond' ? process.env.SESSIOND_BIN : process.env.SESSIONCTL_BIN;
  const path = env ?? join(repoRoot, 'target/debug', name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`cargo build --bin ${name}\` first`);
  return path;
};

/**
 * Start a daemon. `env` adds or overrides SESSIOND_* settings (rate limiting and jobs are off
 * unless `env` turns them on).
 * @returns {Promise<{url: string, dir: string, env: Record<string,string>, logs: string[], stop: () => Promise<void>, sessionctl: (...args: string[]) => Promise<string>}>}
 */
export async function startDaemon({ env = {}, readyTimeoutMs = 30_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-web-'));
  const daemonEnv = {
    SESSIOND_SERVER__LISTEN: '127.0.0.1:0',
    SESSIOND_DATABASE__URL: `sqlite://${join(dir, 'sessiond.db')}`,
    SESSIOND_STORAGE__FS__ROOT: join(dir, 'objects'),
    SESSIOND_RATE_LIMIT__ENABLED: 'false',
    SESSIOND_JOBS__ENABLED: 'false',
    SESSIOND_LOG__FORMAT: 'json',
    SESSIOND_LOG__LEVEL: 'info',
    ...env,
  };
  const fullEnv = { ...process.env, ...daemonEnv };
  delete fullEnv.RUST_LOG;
  delete fullEnv.SESSIOND_CONFIG;
  const child = spawn(binary('sessiond'), ['serve'], { cwd: dir, env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  const logs = [];
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));

  const listen = await new Promise((resolveListen, reject) => {
    const timer = setTimeout(() => reject(new Error(`sessiond did not start within ${readyTimeoutMs} ms:\n${logs.join('\n')}`)), readyTimeoutMs);
    const lines = createInterface({ input: child.stderr });
    lines.on('line', (line) => {
      if (logs.length < 2000) logs.push(line);
      if (!line.includes('sessiond ready')) return;
      try {
        const addr = JSON.parse(line).listen;
        clearTimeout(timer);
        resolveListen(addr);
      } catch {
        // not JSON: keep reading
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`sessiond exited before it was ready:\n${logs.join('\n')}`));
    });
  });
  const url = `http://${listen}`;

  const deadline = Date.now() + readyTimeoutMs;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline || i > 1000 || exited) throw new Error(`sessiond at ${url} never became ready`);
    await new Promise((r) => setTimeout(r, 20 + i * 10));
  }

  return {
    url,
    dir,
    env: daemonEnv,
    logs,
    /** Run `sessionctl` on this daemon's database. */
    sessionctl: (...args) =>
      new Promise((res, rej) =>
        execFile(binary('sessionctl'), args, { cwd: dir, env: fullEnv, timeout: 30_000 }, (err, stdout, stderr) =>
          err ? rej(new Error(`sessionctl ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : res(stdout),
        ),
      ),
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
