//! Upload time limits (README "Uploads on slow links"): an upload is bound by
//! `uploads.idle_timeout` (no body byte for that long → 408) and `uploads.total_timeout`, not by
//! `server.request_timeout`, so a slow but steady client finishes. Bodies are written by hand over
//! TCP so the pacing is exact. SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::Value;
use sessiond_core::Settings;
use sessiond_core::config::HumanDuration;
use sessiond_tests::{TestDaemon, TestDb, client, on_both_backends};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_both_backends!(
    slow_drip_upload_outlives_the_request_timeout,
    stalled_upload_is_408_after_the_idle_timeout,
    upload_past_the_total_timeout_is_408,
);

const BOUNDARY: &str = "sessiondslowboundary";

/// Short limits so the tests take seconds: the request deadline is 1 s.
fn settings(db: &TestDb, idle_ms: u64, total_ms: u64) -> Settings {
    let mut s = db.settings();
    s.server.request_timeout = HumanDuration(Duration::from_secs(1));
    s.uploads.idle_timeout = HumanDuration(Duration::from_millis(idle_ms));
    s.uploads.total_timeout = HumanDuration(Duration::from_millis(total_ms));
    s
}

async fn generate(d: &TestDaemon) -> String {
    sessiond_tests::generate_session(&d.url("")).await
}

async fn upload_count(d: &TestDaemon, id: &str) -> usize {
    let body: Value = client()
        .get(d.url(&format!("/api/session/{id}/uploads")))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    body["uploads"].as_array().map_or(0, Vec::len)
}

/// The request head and the whole multipart body of a `pdf_len`-byte PDF.
fn request(d: &TestDaemon, id: &str, pdf_len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    )
    .into_bytes();
    body.resize(body.len() + pdf_len - 9, b'A');
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let head = format!(
        "POST /api/session/{id}/uploads HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        d.addr,
        body.len()
    );
    (head.into_bytes(), body)
}

/// Write `body` in `pieces` pieces, `gap` apart (stopping quietly if the server hangs up),
/// while reading the answer; returns the answer's status line and when it came.
async fn drip(d: &TestDaemon, head: Vec<u8>, body: Vec<u8>, pieces: usize, gap: Duration) -> (String, Duration) {
    let stream = TcpStream::connect(d.addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        if wr.write_all(&head).await.is_err() {
            return;
        }
        let size = body.len().div_ceil(pieces);
        for piece in body.chunks(size) {
            tokio::time::sleep(gap).await;
            if wr.write_all(piece).await.is_err() {
                return;
            }
        }
        // Keep the write half open until the answer is read.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut answer)).await;
    let elapsed = started.elapsed();
    writer.abort();
    assert!(read.is_ok(), "no answer within 20 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    (text.lines().next().unwrap_or("").to_owned(), elapsed)
}

/// 2.4 s of steady trickle: over the 1 s request deadline, under the 800 ms stall limit between
/// pieces — the upload is stored.
async fn slow_drip_upload_outlives_the_request_timeout(kind: sessiond_tests::DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(settings(&db, 800, 60_000)).await;
    let id = generate(&d).await;
    let (head, body) = request(&d, &id, 64 * 1024);
    let (status, took) = drip(&d, head, body, 16, Duration::from_millis(150)).await;
    assert_eq!(status, "HTTP/1.1 201 Created", "after {took:?}");
    assert!(took > Duration::from_secs(2), "the drip took {took:?}");
    assert_eq!(upload_count(&d, &id).await, 1);
    d.stop().await;
}

/// Half a body, then silence: 408 once the stall limit passes, and nothing is stored.
async fn stalled_upload_is_408_after_the_idle_timeout(kind: sessiond_tests::DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(settings(&db, 1000, 60_000)).await;
    let id = generate(&d).await;
    let (head, body) = request(&d, &id, 64 * 1024);
    let mut stream = TcpStream::connect(d.addr).await.expect("connect");
    let started = Instant::now();
    stream.write_all(&head).await.expect("head");
    stream.write_all(&body[..body.len() / 2]).await.expect("half the body");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    assert!(read.is_ok(), "no answer within 20 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        took >= Duration::from_secs(1),
        "answered after {took:?}, before the stall limit"
    );
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert_eq!(upload_count(&d, &id).await, 0);
    d.stop().await;
}

/// A steady trickle is still cut at `uploads.total_timeout` (1.5 s here).
async fn upload_past_the_total_timeout_is_408(kind: sessiond_tests::DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(settings(&db, 800, 1500)).await;
    let id = generate(&d).await;
    let (head, body) = request(&d, &id, 64 * 1024);
    let (status, took) = drip(&d, head, body, 20, Duration::from_millis(200)).await;
    assert_eq!(status, "HTTP/1.1 408 Request Timeout", "after {took:?}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(upload_count(&d, &id).await, 0);
    d.stop().await;
}
