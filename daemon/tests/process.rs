//! The real `sessiond` binary as an operator runs it: SIGKILL under load loses nothing it
//! acknowledged, SIGTERM drains in-flight requests, JSON logs, bad config, `migrate`.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sessiond_core::audit::AuditQuery;
use sessiond_tests::process::DaemonProcess;
use sessiond_tests::{DbKind, TestDb, client, on_both_backends};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use uuid::Uuid;

on_both_backends!(
    sigkill_under_load_loses_nothing_acknowledged,
    sigterm_drains_in_flight_requests,
    sigterm_turns_readyz_503_while_still_serving
);

type Running = DaemonProcess;

/// Start the binary on `db` (see [`DaemonProcess::start`]).
async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Running {
    DaemonProcess::start(env!("CARGO_BIN_EXE_sessiond"), db, extra).await
}

async fn sigkill_under_load_loses_nothing_acknowledged(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut daemon = start(&db, &[]).await;
    let base = format!("http://{}", daemon.addr);
    let acked: Arc<Mutex<Vec<(String, String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..16 {
        let base = base.clone();
        let acked = acked.clone();
        workers.push(tokio::spawn(async move {
            let c = client();
            for i in 0..10_000 {
                let rid = format!("w{w}-{i}");
                let Ok(res) = c
                    .post(format!("{base}/api/session/generate-uuid"))
                    .header("x-request-id", &rid)
                    .send()
                    .await
                else {
                    return;
                };
                if res.status() != 201 {
                    continue;
                }
                let Ok(body) = res.json::<Value>().await else { return };
                let id = body["uuid"].as_str().unwrap_or_default().to_owned();
                acked
                    .lock()
                    .expect("lock")
                    .push(("session.generated".into(), rid.clone(), id.clone()));
                let vrid = format!("{rid}-v");
                let Ok(res) = c
                    .post(format!("{base}/api/session/validate-uuid"))
                    .header("x-request-id", &vrid)
                    .json(&serde_json::json!({"uuid": id}))
                    .send()
                    .await
                else {
                    return;
                };
                if res.status() == 200 {
                    acked.lock().expect("lock").push(("session.validated".into(), vrid, id));
                }
            }
        }));
    }
    // Kill while requests are in flight, once a good number has been acknowledged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 400 {
        assert!(tokio::time::Instant::now() < deadline, "load made no progress");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.child.start_kill().expect("SIGKILL");
    daemon.child.wait().await.expect("reaped");
    for w in workers {
        w.await.expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 400);

    let store = db.store().await;
    let events = store
        .list_audit(&AuditQuery {
            limit: 10_000,
            ascending: true,
            ..Default::default()
        })
        .await
        .expect("audit");
    let mut after = events.last().map(|e| e.id);
    let mut all = events;
    while let Some(cursor) = after {
        let more = store
            .list_audit(&AuditQuery {
                after_id: Some(cursor),
                limit: 10_000,
                ascending: true,
                ..Default::default()
            })
            .await
            .expect("audit");
        after = more.last().map(|e| e.id);
        all.extend(more);
    }
    let stored: HashSet<(String, String)> = all
        .iter()
        .map(|e| (e.event_type.clone(), e.request_id.clone().unwrap_or_default()))
        .collect();
    for (ty, rid, id) in &acked {
        assert!(
            stored.contains(&(ty.clone(), rid.clone())),
            "acknowledged {ty} {rid} has no audit event"
        );
        let uuid = Uuid::parse_str(id).expect("uuid");
        assert!(
            store.get_session(uuid).await.expect("get").is_some(),
            "acknowledged session {id} is missing"
        );
    }
}

async fn sigterm_drains_in_flight_requests(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut daemon = start(&db, &[]).await;
    let c = client();
    let res = c
        .post(format!("http://{}/api/session/generate-uuid", daemon.addr))
        .header("x-request-id", "before-term")
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.expect("json")["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A request in flight: head and half the body sent.
    let body = format!("{{\"uuid\": \"{id}\"}}");
    let mut stream = tokio::net::TcpStream::connect(&daemon.addr).await.expect("connect");
    let head = format!(
        "POST /api/session/validate-uuid HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Request-Id: in-flight\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body.as_bytes()[..10]).await.expect("half body");
    stream.flush().await.expect("flush");
    // Wait until the daemon has seen the connection (it is counted as open).
    wait_for_metric(&daemon.addr, "sessiond_open_connections", 2.0).await;

    let pid = daemon.child.id().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // The daemon stops accepting, but answers the request in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !daemon
        .logs
        .lock()
        .expect("lock")
        .iter()
        .any(|l| l["message"] == "shutting down: draining in-flight requests")
    {
        assert!(tokio::time::Instant::now() < deadline, "no drain log line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stream.write_all(&body.as_bytes()[10..]).await.expect("rest of body");
    let mut answer = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut answer)
        .await
        .expect("read answer");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(stream);
    let exit = tokio::time::timeout(Duration::from_secs(20), daemon.child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(exit.success(), "clean exit: {exit:?}");

    // Its audit event is stored, and the access log has one JSON line per request.
    let events = db
        .store()
        .await
        .list_audit(&AuditQuery {
            request_id: Some("in-flight".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(events.len(), 1);
    let logs = daemon.logs.lock().expect("lock").clone();
    let line = logs
        .iter()
        .find(|l| l["request_id"] == "in-flight")
        .expect("access log line");
    assert_eq!(line["route"], "/api/session/validate-uuid");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some());
    assert!(logs.iter().any(|l| l["message"] == "sessiond stopped"));
}

/// `server.drain_delay`: on SIGTERM `/readyz` answers 503 at once, while the API still
/// answers (with `Connection: close`) until the delay has passed; then the daemon exits.
async fn sigterm_turns_readyz_503_while_still_serving(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut daemon = start(&db, &[("SESSIOND_SERVER__DRAIN_DELAY", "3s")]).await;
    let c = client();
    let ready = format!("http://{}/readyz", daemon.addr);
    let generate = format!("http://{}/api/session/generate-uuid", daemon.addr);
    assert_eq!(c.get(&ready).send().await.expect("readyz").status(), 200);

    let pid = daemon.child.id().expect("pid");
    let signalled = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    // Readiness turns 503 (polled: the signal is handled asynchronously) ...
    let deadline = signalled + Duration::from_secs(2);
    loop {
        let res = c.get(&ready).send().await.expect("readyz while draining");
        if res.status() == 503 {
            assert_eq!(res.headers()["connection"], "close");
            assert_eq!(res.json::<Value>().await.expect("json")["status"], "draining");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "readyz never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... while new connections are still accepted and served.
    let mut served = 0;
    while signalled.elapsed() < Duration::from_millis(2_000) {
        let res = c.post(&generate).send().await.expect("served while draining");
        assert_eq!(res.status(), 201);
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served >= 5, "{served} requests served during the drain");
    let exit = tokio::time::timeout(Duration::from_secs(20), daemon.child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(exit.success(), "clean exit: {exit:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "stopped only after the drain delay"
    );
    let logs = daemon.logs.lock().expect("lock").clone();
    assert!(
        logs.iter()
            .any(|l| l["message"] == "draining: /readyz answers 503 while requests are still served")
    );
}

async fn wait_for_metric(addr: &str, name: &str, at_least: f64) {
    let c = client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = c
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let value = text
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if value >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never reached {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn bad_config_stops_start_up_naming_the_key() {
    for (var, value, key) in [
        ("SESSIOND_SERVER__LISTEN", "not-an-address", "server.listen"),
        (
            "SESSIOND_JOBS__RETENTION__SCHEDULE",
            "every day",
            "jobs.retention.schedule",
        ),
        (
            "SESSIOND_SERVER__TRUSTED_PROXIES",
            "[\"10.0.0.0/40\"]",
            "server.trusted_proxies[0]",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sessiond"))
            .env(var, value)
            .arg("check-config")
            .output()
            .await
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{err}");
        assert_eq!(err.lines().count(), 1, "one clear message: {err}");
    }
}

#[tokio::test]
async fn migrate_and_check_config_keep_secrets_out() {
    let db = TestDb::new(DbKind::Postgres).await;
    let with_password = db
        .url
        .replacen("postgres://postgres@", "postgres://postgres:topsecret@", 1);
    let out = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .env("SESSIOND_DATABASE__URL", &with_password)
        .arg("migrate")
        .output()
        .await
        .expect("run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("migrations applied"), "{all}");
    assert!(!all.contains("topsecret"), "{all}");
    let out = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .env("SESSIOND_DATABASE__URL", &with_password)
        .env("SESSIOND_EMAIL__SMTP_URL", "smtp://u:mailsecret@h:25")
        .arg("check-config")
        .output()
        .await
        .expect("run");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    assert!(!all.contains("topsecret") && !all.contains("mailsecret"), "{all}");
}

#[tokio::test]
async fn accept_loop_survives_running_out_of_file_descriptors() {
    let db = TestDb::new(DbKind::Sqlite).await;
    // Start the real binary with a tiny descriptor limit, so accept() fails with EMFILE.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n 48 && exec {}", env!("CARGO_BIN_EXE_sessiond")))
        .env("SESSIOND_DATABASE__URL", &db.url)
        .env("SESSIOND_SERVER__LISTEN", "127.0.0.1:0")
        .env("SESSIOND_JOBS__ENABLED", "false")
        .env("SESSIOND_RATE_LIMIT__ENABLED", "false")
        .env("SESSIOND_DATABASE__MAX_CONNECTIONS", "2")
        .env("SESSIOND_LOG__FORMAT", "json")
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .expect("read log")
            .expect("ready line before exit");
        let v: Value = serde_json::from_str(&line).expect("json log");
        if v["message"] == "sessiond ready" {
            break v["listen"].as_str().unwrap_or_default().to_owned();
        }
    };
    let logs = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str(&line) {
                sink.lock().expect("lock").push(v);
            }
        }
    });
    // Hold more connections than the daemon has descriptors for.
    let mut held = Vec::new();
    for _ in 0..80 {
        if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
            held.push(s);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !logs
        .lock()
        .expect("lock")
        .iter()
        .any(|l| l["message"] == "accept failed; retrying")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "accept never failed: the limit did not bite"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    // The daemon is still serving.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match client().get(format!("http://{addr}/healthz")).send().await {
            Ok(res) if res.status() == 200 => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "not serving after EMFILE: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child.try_wait().expect("status").is_none(), "still running");
}
