//! The benchmark's own tools work, so `scripts/bench/run` does not rot between runs: the
//! seeder fills a database and writes its sample, the look-up timer finds every sampled
//! session (and refuses a sample that belongs to another database), and the ceiling answers.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use sessiond_tests::{DbKind, TestDb, on_both_backends, raw_request};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lookup(db: &TestDb, ids: &Path) -> Output {
    let ids = ids.to_str().expect("utf-8 path");
    run(
        env!("CARGO_BIN_EXE_lookup"),
        &["--database-url", &db.url, "--ids", ids, "--rounds", "1"],
    )
}

async fn seeded_sessions_are_found_by_the_lookup_timer(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let ids = db.dir.path().join("ids.txt");
    let seeded = run(
        env!("CARGO_BIN_EXE_seed"),
        &[
            "--database-url",
            &db.url,
            "--count",
            "3000",
            "--sample",
            "300",
            "--out",
            ids.to_str().expect("utf-8 path"),
        ],
    );
    assert!(seeded.status.success(), "seed: {}", text(&seeded.stderr));
    let sample = std::fs::read_to_string(&ids).expect("sample file");
    let sampled: Vec<uuid::Uuid> = sample
        .lines()
        .map(|l| uuid::Uuid::parse_str(l).expect("a UUID per line"))
        .collect();
    assert_eq!(sampled.len(), 300, "every tenth of 3 000 sessions");
    let counts = db.store().await.count_sessions().await.expect("count");
    assert_eq!(counts.active, 3000, "{counts:?}");

    let timed = lookup(&db, &ids);
    let stdout = text(&timed.stdout);
    assert!(timed.status.success(), "lookup: {stdout} {}", text(&timed.stderr));
    assert!(
        stdout.contains("RESULT round=1 lookups=300 missing=0 p50_ms="),
        "{stdout}"
    );

    // Ids this database never held: the timer refuses to report (a wrong file, not a figure).
    let strangers = db.dir.path().join("strangers.txt");
    std::fs::write(
        &strangers,
        format!("{}\n{}\n", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()),
    )
    .expect("write");
    let refused = lookup(&db, &strangers);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains("2 sampled ids were not found"),
        "{}",
        text(&refused.stderr)
    );
}

on_both_backends!(seeded_sessions_are_found_by_the_lookup_timer);

/// The ceiling server, killed when dropped.
struct Ceiling(Child);

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_ceiling_answers_its_fixed_json() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceiling"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the ceiling");
    let stdout = child.stdout.take().expect("stdout");
    let ceiling = Ceiling(child);
    // It prints `listening <addr>` once bound.
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read its address");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let answer = raw_request(
        addr,
        b"POST /api/session/validate-uuid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\n{\"valid\":true,\"status\":\"ok\"}  "),
        "{answer}"
    );
    drop(ceiling);
}
