//! Driver of `scripts/suites/multi.sh` (issue 20): three real `sessiond` processes behind
//! HAProxy (deploy/haproxy/haproxy.cfg) on a fresh PostgreSQL database, Redis for the shared
//! rate limit and moto for S3, with traffic through the balancer while
//!
//! * each daemon in turn is stopped with SIGTERM and started again (rolling restart: no request
//!   may fail),
//! * one daemon is SIGKILLed (at most the requests in flight fail; every 2xx has its rows and
//!   audit events),
//! * one session is created, validated, uploaded to and reset through different daemons,
//! * one client IP gets one rate budget across the daemons (X-Forwarded-For from HAProxy),
//! * `sessionctl audit tail --follow --json` on the shared database shows events served by
//!   every daemon, and each scheduled job tick ran once,
//! * the three daemons, sharing one `audit.hmac_key`, write one audit chain that
//!   `sessionctl audit verify` finds intact after all of the above.
//!
//! Prints the counts and a closing `N passed, N failed` line; exits 1 on any failure.
//! Binaries: `SESSIOND_BIN` / `SESSIONCTL_BIN` (default `target/debug/…`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessiond_core::audit::AuditQuery;
use sessiond_tests::s3::Moto;
use sessiond_tests::{DbKind, TestDb};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

const WORKERS: usize = 8;
/// `rate_limit.routes.read` in the daemons: the budget test's quota.
const READ_QUOTA: usize = 6;
/// `audit.hmac_key` of the three daemons (and of `sessionctl audit verify`).
const AUDIT_KEY: &str = "multi-e2e-chain-key-0123456789abcdef";

fn bin(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(name)
    })
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
    l.local_addr().expect("addr").port()
}

/// Pass/fail lines, counted.
#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn check(&mut self, ok: bool, what: impl AsRef<str>) {
        if ok {
            self.passed += 1;
            println!("ok   {}", what.as_ref());
        } else {
            self.failed += 1;
            println!("FAIL {}", what.as_ref());
        }
    }
}

struct Daemon {
    name: String,
    port: u16,
    child: Option<Child>,
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Daemon {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log file");
        let mut cmd = Command::new(bin("SESSIOND_BIN", "sessiond"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOSTNAME", &self.name)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("SESSIOND_SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("spawn sessiond"));
    }

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .and_then(Child::id)
            .map(|p| p.to_string())
            .expect("running daemon")
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {}", self.name);
    }

    async fn wait_exit(&mut self, within: Duration) -> bool {
        let Some(child) = self.child.as_mut() else { return true };
        let done = tokio::time::timeout(within, child.wait()).await.is_ok();
        self.child = None;
        done
    }
}

/// What one load request ended as.
#[derive(Clone)]
struct Outcome {
    phase: usize,
    ok: bool,
    detail: String,
}

#[derive(Default)]
struct Load {
    outcomes: Mutex<Vec<Outcome>>,
    /// (session uuid, request id) of every 201 to generate-uuid.
    generated: Mutex<Vec<(String, String)>>,
    /// Request ids of every 201 to an upload.
    uploaded: Mutex<Vec<String>>,
    /// Request id → daemon that answered (X-Served-By).
    served_by: Mutex<HashMap<String, String>>,
}

fn multipart_pdf(n: usize) -> (String, Vec<u8>) {
    let boundary = "----sessiondmultie2e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f{n}.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(b"%PDF-1.7\n");
    body.extend(std::iter::repeat_n(b'x', 2048 + n % 512));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(ip))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

async fn worker(w: usize, front: String, phase: Arc<AtomicUsize>, stop: Arc<AtomicBool>, load: Arc<Load>) {
    let http = client_from(Ipv4Addr::new(127, 0, 0, 10 + u8::try_from(w).unwrap_or(0)));
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let rid = format!("w{w}-{n}");
        let p = phase.load(Ordering::Acquire);
        let res = http
            .post(format!("{front}/api/session/generate-uuid"))
            .header("x-request-id", format!("{rid}-gen"))
            .send()
            .await;
        let uuid = match res {
            Ok(r) if r.status() == 201 => {
                note_served(&load, &format!("{rid}-gen"), &r);
                let body: Value = r.json().await.unwrap_or_default();
                let uuid = body["uuid"].as_str().unwrap_or_default().to_owned();
                load.generated
                    .lock()
                    .expect("lock")
                    .push((uuid.clone(), format!("{rid}-gen")));
                record(&load, &phase, p, true, String::new());
                uuid
            }
            Ok(r) => {
                record(&load, &phase, p, false, format!("generate {rid}: {}", r.status()));
                continue;
            }
            Err(e) => {
                record(&load, &phase, p, false, format!("generate {rid}: {e:?}"));
                continue;
            }
        };
        let p = phase.load(Ordering::Acquire);
        let res = http
            .post(format!("{front}/api/session/validate-uuid"))
            .header("x-request-id", format!("{rid}-val"))
            .json(&serde_json::json!({ "uuid": uuid }))
            .send()
            .await;
        match res {
            Ok(r) if r.status() == 200 => record(&load, &phase, p, true, String::new()),
            Ok(r) => record(&load, &phase, p, false, format!("validate {rid}: {}", r.status())),
            Err(e) => record(&load, &phase, p, false, format!("validate {rid}: {e:?}")),
        }
        if n.is_multiple_of(4) {
            let p = phase.load(Ordering::Acquire);
            let (ct, body) = multipart_pdf(n);
            let res = http
                .post(format!("{front}/api/session/{uuid}/uploads"))
                .header("x-request-id", format!("{rid}-up"))
                .header("content-type", ct)
                .body(body)
                .send()
                .await;
            match res {
                Ok(r) if r.status() == 201 => {
                    load.uploaded.lock().expect("lock").push(format!("{rid}-up"));
                    record(&load, &phase, p, true, String::new());
                }
                Ok(r) => record(&load, &phase, p, false, format!("upload {rid}: {}", r.status())),
                Err(e) => record(&load, &phase, p, false, format!("upload {rid}: {e:?}")),
            }
        }
    }
}

fn note_served(load: &Load, rid: &str, res: &reqwest::Response) {
    if let Some(by) = res.headers().get("x-served-by").and_then(|v| v.to_str().ok()) {
        load.served_by
            .lock()
            .expect("lock")
            .insert(rid.to_owned(), by.to_owned());
    }
}

/// A request counts in the later of the phases it started and ended in: one sent just before
/// the SIGKILL and cut by it is a SIGKILL casualty, not a rolling-restart failure.
fn record(load: &Load, now: &AtomicUsize, started: usize, ok: bool, detail: String) {
    let phase = started.max(now.load(Ordering::Acquire));
    load.outcomes.lock().expect("lock").push(Outcome { phase, ok, detail });
}

/// Poll `GET /healthz` through the balancer until `daemon` answers one (HAProxy has it up).
async fn wait_in_rotation(front: &str, daemon: &str, within: Duration) -> bool {
    let http = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{front}/healthz")).send().await
            && r.headers().get("x-served-by").is_some_and(|v| v == daemon)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn wait_ready(port: u16, within: Duration) -> bool {
    let http = sessiond_tests::client();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/readyz")).send().await
            && r.status() == 200
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A request through the balancer repeated until a daemon not in `avoid` answers it.
async fn via_other(avoid: &[String], mut send: impl AsyncFnMut() -> reqwest::Response) -> (reqwest::Response, String) {
    let mut last = None;
    for _ in 0..12 {
        let r = send().await;
        let by = r
            .headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !avoid.contains(&by) {
            return (r, by);
        }
        last = Some((r, by));
    }
    last.expect("at least one answer")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let started = Instant::now();
    let mut report = Report::default();
    let work = tempfile::tempdir().expect("work dir");
    let db = TestDb::new(DbKind::Postgres).await;
    let moto = Moto::start().await;
    moto.create_bucket("multi").await;
    let prefix = format!("sessiond-multi-{}:", uuid::Uuid::new_v4().simple());
    let redis_url = std::env::var("SESSIOND_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let env: Vec<(String, String)> = [
        ("SESSIOND_DATABASE__URL", db.url.as_str()),
        ("SESSIOND_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
        ("SESSIOND_SERVER__DRAIN_DELAY", "3s"),
        ("SESSIOND_LOG__FORMAT", "json"),
        ("SESSIOND_RATE_LIMIT__ENABLED", "true"),
        ("SESSIOND_RATE_LIMIT__BACKEND", "redis"),
        ("SESSIOND_RATE_LIMIT__REDIS_URL", redis_url.as_str()),
        ("SESSIOND_RATE_LIMIT__REDIS_KEY_PREFIX", prefix.as_str()),
        ("SESSIOND_RATE_LIMIT__DEFAULT", "1000000/minute"),
        ("SESSIOND_RATE_LIMIT__ROUTES__READ", "6/minute"),
        ("SESSIOND_STORAGE__BACKEND", "s3"),
        ("SESSIOND_STORAGE__S3__BUCKET", "multi"),
        ("SESSIOND_STORAGE__S3__REGION", "us-east-1"),
        ("SESSIOND_STORAGE__S3__ENDPOINT", moto.endpoint.as_str()),
        ("SESSIOND_STORAGE__S3__FORCE_PATH_STYLE", "true"),
        ("SESSIOND_STORAGE__S3__ACCESS_KEY_ID", "testing"),
        ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "testing"),
        // The audit chain on, one key for the three: their batches link into one chain that
        // `sessionctl audit verify` checks at the end (docs/audit.md).
        ("SESSIOND_AUDIT__HMAC_KEY", AUDIT_KEY),
        ("SESSIOND_JOBS__ENABLED", "true"),
        ("SESSIOND_JOBS__SESSION_EXPIRY__SCHEDULE", "*/2 * * * * *"),
        ("SESSIOND_JOBS__ALERT_DETECTION__SCHEDULE", "*/5 * * * * *"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(READ_QUOTA, 6, "READ_QUOTA matches SESSIOND_RATE_LIMIT__ROUTES__READ");

    let mut daemons: Vec<Daemon> = (1..=3)
        .map(|i| Daemon {
            name: format!("sessiond{i}"),
            port: free_port(),
            child: None,
            env: env.clone(),
            log: work.path().join(format!("sessiond{i}.log")),
        })
        .collect();
    for d in &mut daemons {
        d.start();
    }
    for d in &daemons {
        assert!(wait_ready(d.port, Duration::from_secs(60)).await, "{} ready", d.name);
    }

    // HAProxy with the repository's configuration.
    let front_port = free_port();
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/haproxy.cfg");
    let mut haproxy = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .env("SESSIOND_FRONT", format!("127.0.0.1:{front_port}"))
        .env("SESSIOND_1", format!("127.0.0.1:{}", daemons[0].port))
        .env("SESSIOND_2", format!("127.0.0.1:{}", daemons[1].port))
        .env("SESSIOND_3", format!("127.0.0.1:{}", daemons[2].port))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("haproxy.log")).expect("haproxy log"))
        .kill_on_drop(true)
        .spawn()
        .expect("start haproxy (scripts/provision/haproxy.sh installs it)");
    let front = format!("http://127.0.0.1:{front_port}");
    for d in &daemons {
        assert!(
            wait_in_rotation(&front, &d.name, Duration::from_secs(30)).await,
            "{} in rotation",
            d.name
        );
    }
    println!(
        "three daemons behind haproxy on {front} ({:.1}s)",
        started.elapsed().as_secs_f64()
    );

    // The console, live, on the shared database.
    let mut console = Command::new(bin("SESSIONCTL_BIN", "sessionctl"))
        .args([
            "--database-url",
            &db.url,
            "--json",
            "audit",
            "tail",
            "--follow",
            "--limit",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start sessionctl");
    let console_lines = Arc::new(Mutex::new(Vec::<Value>::new()));
    {
        let sink = console_lines.clone();
        let out = console.stdout.take().expect("console stdout");
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().expect("lock").push(v);
                }
            }
        });
    }

    // One session through different daemons.
    {
        let http = client_from(Ipv4Addr::new(127, 0, 0, 201));
        let r = http
            .post(format!("{front}/api/session/generate-uuid"))
            .send()
            .await
            .expect("generate");
        let first = r.headers()["x-served-by"].to_str().unwrap_or_default().to_owned();
        let ok = r.status() == 201;
        let uuid = r.json::<Value>().await.unwrap_or_default()["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        report.check(ok && !uuid.is_empty(), format!("cross-daemon: generated on {first}"));
        let mut seen = vec![first];
        let (r, by) = via_other(&seen, async || {
            http.post(format!("{front}/api/session/validate-uuid"))
                .json(&serde_json::json!({ "uuid": uuid }))
                .send()
                .await
                .expect("validate")
        })
        .await;
        report.check(
            r.status() == 200 && !seen.contains(&by),
            format!("cross-daemon: validated on {by}"),
        );
        seen.push(by);
        let (r, by) = via_other(&seen, async || {
            let (ct, body) = multipart_pdf(1);
            http.post(format!("{front}/api/session/{uuid}/uploads"))
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .expect("upload")
        })
        .await;
        report.check(
            r.status() == 201 && !seen.contains(&by),
            format!("cross-daemon: uploaded on {by}"),
        );
        let (r, by) = via_other(&[by], async || {
            http.delete(format!("{front}/api/session/{uuid}"))
                .send()
                .await
                .expect("reset")
        })
        .await;
        report.check(r.status() == 204, format!("cross-daemon: reset on {by}"));
        let (r, by2) = via_other(&[by], async || {
            http.post(format!("{front}/api/session/validate-uuid"))
                .json(&serde_json::json!({ "uuid": uuid }))
                .send()
                .await
                .expect("validate")
        })
        .await;
        report.check(
            r.status() == 410,
            format!("cross-daemon: {by2} sees the reset ({})", r.status()),
        );
    }

    // One rate budget per client IP across the daemons.
    {
        let http = client_from(Ipv4Addr::new(127, 0, 0, 202));
        let r = http
            .post(format!("{front}/api/session/generate-uuid"))
            .send()
            .await
            .expect("generate");
        let uuid = r.json::<Value>().await.unwrap_or_default()["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut allowed = 0;
        let mut refused = 0;
        let mut by = HashSet::new();
        for _ in 0..READ_QUOTA + 6 {
            let r = http
                .get(format!("{front}/api/session/{uuid}"))
                // A client-supplied address must not buy a new budget.
                .header("x-forwarded-for", "198.51.100.77")
                .send()
                .await
                .expect("read");
            by.insert(r.headers()["x-served-by"].to_str().unwrap_or_default().to_owned());
            match r.status().as_u16() {
                200 => allowed += 1,
                429 => refused += 1,
                s => println!("     unexpected read status {s}"),
            }
        }
        report.check(
            allowed == READ_QUOTA && refused == 6 && by.len() == 3,
            format!(
                "rate limit: {allowed} allowed, {refused} refused across {} daemons (quota {READ_QUOTA}/minute)",
                by.len()
            ),
        );
    }

    // Load through the balancer, in phases.
    let phase = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Load::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(worker(w, front.clone(), phase.clone(), stop.clone(), load.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Phase 1: rolling restart, each daemon in turn.
    phase.store(1, Ordering::Release);
    for d in &mut daemons {
        let t = Instant::now();
        d.signal("-TERM");
        let exited = d.wait_exit(Duration::from_secs(30)).await;
        report.check(
            exited,
            format!(
                "rolling restart: {} stopped on SIGTERM ({:.1}s)",
                d.name,
                t.elapsed().as_secs_f64()
            ),
        );
        d.start();
        let back = wait_ready(d.port, Duration::from_secs(60)).await
            && wait_in_rotation(&front, &d.name, Duration::from_secs(30)).await;
        report.check(
            back,
            format!(
                "rolling restart: {} back in rotation ({:.1}s)",
                d.name,
                t.elapsed().as_secs_f64()
            ),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Phase 2: SIGKILL one daemon under load, then start it again.
    phase.store(2, Ordering::Release);
    daemons[1].signal("-KILL");
    daemons[1].wait_exit(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    daemons[1].start();
    let back = wait_ready(daemons[1].port, Duration::from_secs(60)).await
        && wait_in_rotation(&front, &daemons[1].name, Duration::from_secs(30)).await;
    report.check(back, "sigkill: the killed daemon is back in rotation");
    phase.store(3, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Release);
    for w in workers {
        let _ = w.await;
    }

    let outcomes = load.outcomes.lock().expect("lock").clone();
    let mut by_phase: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let e = by_phase.entry(o.phase).or_default();
        if o.ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let names = ["warm-up", "rolling restart", "sigkill", "after"];
    for (p, (ok, failed)) in &by_phase {
        println!("     load {:<16} {ok} ok, {failed} failed", names[*p]);
    }
    for o in outcomes.iter().filter(|o| !o.ok).take(20) {
        println!("     failed ({}): {}", names[o.phase], o.detail);
    }
    let failed_in = |p: usize| by_phase.get(&p).map_or(0, |e| e.1);
    let ok_in = |p: usize| by_phase.get(&p).map_or(0, |e| e.0);
    report.check(
        failed_in(0) == 0 && ok_in(0) > 0,
        format!("warm-up: {} ok, {} failed", ok_in(0), failed_in(0)),
    );
    report.check(
        failed_in(1) == 0 && ok_in(1) > 0,
        format!("rolling restart: {} ok, {} failed (must be 0)", ok_in(1), failed_in(1)),
    );
    report.check(
        failed_in(2) <= WORKERS && ok_in(2) > 0,
        format!(
            "sigkill: {} ok, {} failed (at most the {WORKERS} in flight)",
            ok_in(2),
            failed_in(2)
        ),
    );
    report.check(
        failed_in(3) == 0,
        format!("after: {} ok, {} failed", ok_in(3), failed_in(3)),
    );

    // Every acknowledged write has its rows and events.
    let store = db.store().await;
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                after_id: after,
                limit: 10_000,
                ascending: true,
                ..Default::default()
            })
            .await
            .expect("audit");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|e| e.id);
        events.extend(page);
    }
    let typed: HashSet<(String, String)> = events
        .iter()
        .map(|e| (e.event_type.clone(), e.request_id.clone().unwrap_or_default()))
        .collect();
    let generated = load.generated.lock().expect("lock").clone();
    let mut missing = 0;
    for (uuid, rid) in &generated {
        let row = match uuid::Uuid::parse_str(uuid) {
            Ok(id) => store.get_session(id).await.ok().flatten().is_some(),
            Err(_) => false,
        };
        if !row || !typed.contains(&("session.generated".into(), rid.clone())) {
            missing += 1;
        }
    }
    report.check(
        missing == 0 && !generated.is_empty(),
        format!(
            "{} acknowledged sessions: {missing} without their row or session.generated event",
            generated.len()
        ),
    );
    let uploaded = load.uploaded.lock().expect("lock").clone();
    let lost = uploaded
        .iter()
        .filter(|rid| !typed.contains(&("upload.accepted".into(), (*rid).clone())))
        .count();
    report.check(
        lost == 0 && !uploaded.is_empty(),
        format!(
            "{} acknowledged uploads: {lost} without their upload.accepted event",
            uploaded.len()
        ),
    );

    // The console saw events served by every daemon.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = console.kill().await;
    let served = load.served_by.lock().expect("lock").clone();
    let lines = console_lines.lock().expect("lock").clone();
    let mut console_daemons = HashSet::new();
    for l in &lines {
        if let Some(by) = l["request_id"].as_str().and_then(|rid| served.get(rid)) {
            console_daemons.insert(by.clone());
        }
    }
    report.check(
        console_daemons.len() == 3,
        format!("console: {} live events, from daemons {console_daemons:?}", lines.len()),
    );

    // Each session_expiry tick ran once, though three daemons ticked.
    let runs = store.list_runs(Some("session_expiry"), 10_000).await.expect("runs");
    let ticks: Vec<_> = runs.iter().filter_map(|r| r.scheduled_for).collect();
    let distinct: HashSet<_> = ticks.iter().collect();
    let holders: HashSet<_> = runs
        .iter()
        .map(|r| r.holder.split(':').next().unwrap_or("").to_owned())
        .collect();
    report.check(
        !runs.is_empty() && distinct.len() == ticks.len() && ticks.len() == runs.len(),
        format!(
            "jobs: {} session_expiry runs for {} ticks, by {holders:?}",
            runs.len(),
            distinct.len()
        ),
    );

    for d in &mut daemons {
        if d.child.is_some() {
            d.signal("-TERM");
            d.wait_exit(Duration::from_secs(30)).await;
        }
    }
    let _ = haproxy.kill().await;

    // One chain, written by three daemons at once through a rolling restart and a SIGKILL,
    // verifies end to end with the operators' tool.
    let verify = Command::new(bin("SESSIONCTL_BIN", "sessionctl"))
        .args(["--database-url", &db.url, "audit", "verify"])
        .env("SESSIOND_AUDIT__HMAC_KEY", AUDIT_KEY)
        .output()
        .await
        .expect("run sessionctl audit verify");
    let said = String::from_utf8_lossy(&verify.stdout).trim().to_owned();
    let complaint = String::from_utf8_lossy(&verify.stderr).trim().to_owned();
    report.check(
        verify.status.success() && said.starts_with("intact:"),
        match verify.status.code() {
            Some(0) => format!("audit chain of the three daemons: {said}"),
            code => format!("audit chain of the three daemons: exit {code:?}: {said} {complaint}"),
        },
    );
    if report.failed > 0 {
        for d in &daemons {
            println!("--- {} log tail", d.name);
            let text = std::fs::read_to_string(&d.log).unwrap_or_default();
            for l in text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev() {
                println!("{l}");
            }
        }
    }
    println!(
        "{} passed, {} failed ({:.0}s)",
        report.passed,
        report.failed,
        started.elapsed().as_secs_f64()
    );
    drop(moto);
    drop(db);
    std::process::exit(i32::from(report.failed > 0));
}
