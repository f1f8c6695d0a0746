#!/usr/bin/env python3
"""Peak RSS of sessiond under N concurrent uploads (PERF.md: 100 x 5 MiB, target < 150 MB).

Starts the given sessiond binary (release build) on a fresh SQLite database and filesystem
object store in a temporary directory, creates N sessions, sends N uploads of SIZE bytes at
once (one thread and one connection each, all released by a barrier), then reads VmHWM (peak
RSS) from /proc/<pid>/status. Standard library only; no venv needed.

    cargo build --release -p sessiond
    python3 scripts/bench/upload_rss.py --sessiond target/release/sessiond
"""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessiond", default="target/release/sessiond")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--size", type=int, default=5 * 1024 * 1024)
    args = ap.parse_args()
    binary = os.path.abspath(args.sessiond)

    with tempfile.TemporaryDirectory(prefix="sessiond-bench-") as tmp:
        port = free_port()
        env = dict(os.environ)
        env.update({
            "SESSIOND_DATABASE__URL": f"sqlite://{tmp}/sessiond.db",
            "SESSIOND_STORAGE__FS__ROOT": f"{tmp}/objects",
            "SESSIOND_SERVER__LISTEN": f"127.0.0.1:{port}",
            "SESSIOND_RATE_LIMIT__ENABLED": "false",
            "SESSIOND_JOBS__ENABLED": "false",
            "SESSIOND_UPLOADS__MAX_BYTES": str(args.size),
            "SESSIOND_LOG__LEVEL": "warn",
        })
        daemon = subprocess.Popen([binary, "serve"], cwd=tmp, env=env)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if request(port, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline or daemon.poll() is not None:
                    sys.exit("sessiond did not come up")
                time.sleep(0.1)

            sessions = []
            for _ in range(args.concurrency):
                st, data = request(port, "POST", "/api/session/generate-uuid")
                assert st == 201, (st, data)
                sessions.append(json.loads(data)["uuid"])
            idle_rss = status_kb(daemon.pid, "VmRSS")

            boundary = "benchboundary7MA4YWxkTrZu0gW"
            pdf = b"%PDF-1.7\n" + os.urandom(args.size - 9)
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.pdf\"\r\n"
                    f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            barrier = threading.Barrier(args.concurrency)
            results = [None] * args.concurrency

            def worker(i):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                conn.connect()
                barrier.wait()
                try:
                    conn.request("POST", f"/api/session/{sessions[i]}/uploads", body=body, headers=headers)
                    res = conn.getresponse()
                    res.read()
                    results[i] = res.status
                except OSError as e:
                    results[i] = repr(e)
                finally:
                    conn.close()

            started = time.time()
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.time() - started
            peak = status_kb(daemon.pid, "VmHWM")
            after = status_kb(daemon.pid, "VmRSS")
            ok = sum(1 for r in results if r == 201)
            print(json.dumps({
                "concurrency": args.concurrency,
                "size_bytes": args.size,
                "accepted_201": ok,
                "other": [r for r in results if r != 201][:5],
                "elapsed_s": round(elapsed, 2),
                "idle_rss_mb": round(idle_rss / 1024, 1),
                "peak_rss_mb": round(peak / 1024, 1),
                "rss_after_mb": round(after / 1024, 1),
            }, indent=2))
            if ok != args.concurrency:
                sys.exit("not every upload was accepted")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()


if __name__ == "__main__":
    main()
