//! The HTTP API suite: the real daemon on 127.0.0.1:0, on SQLite and on PostgreSQL. Every
//! status and code of SPEC §2.1–2.3 (uploads aside) is produced here, and every operation is
//! checked against the audit table.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessiond::Hooks;
use sessiond_core::audit::{AuditEvent, AuditQuery};
use sessiond_core::domain::SessionStatus;
use sessiond_core::id::IdGenerator;
use sessiond_core::store::Store;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, on_both_backends, raw_request, seed_session};
use uuid::Uuid;

on_both_backends!(
    session_lifecycle,
    every_refusal_has_its_code,
    expired_on_read_before_any_job,
    last_seen_is_rewritten_only_when_stale_or_moved,
    audit_has_one_event_per_operation,
    colliding_ids_are_retried_then_fail_as_internal,
    failed_audit_batch_is_503_and_stores_nothing,
    cors_and_security_headers,
    operational_endpoints,
    request_timeout_is_408,
);

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("JSON body")
}

async fn generate(d: &TestDaemon) -> String {
    let res = client()
        .post(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status(), StatusCode::CREATED);
    json_of(res).await["uuid"].as_str().expect("uuid").to_owned()
}

async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    assert_eq!(
        res.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "content type for {code}"
    );
    let rid = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = json_of(res).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("urn:sessiond:problem:{code}"));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["request_id"].as_str(), rid.as_deref());
    body
}

async fn session_lifecycle(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let c = client();

    let res = c
        .post(d.url("/api/session/generate-uuid"))
        .json(&json!({"user_info": {"locale": "de-DE", "app": "1.2.3"}}))
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let created = json_of(res).await;
    let id = created["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(location, Some(format!("/api/session/{id}")));
    assert_eq!(created["status"], "active");
    assert_eq!(created["created_at"], created["last_seen_at"]);
    let parsed = Uuid::parse_str(&id).expect("uuid");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(id, id.to_lowercase());
    // RFC 3339 UTC with milliseconds.
    let ts = created["created_at"].as_str().expect("created_at");
    assert_eq!(ts.len(), "2026-01-08T10:15:30.123Z".len(), "{ts}");
    assert!(ts.ends_with('Z'));
    // user_info stored as-is.
    let stored = db.store().await.get_session(parsed).await.expect("get").expect("row");
    assert_eq!(stored.user_info, Some(json!({"locale": "de-DE", "app": "1.2.3"})));

    // Validation refreshes last_seen_at; upper case is accepted and answered in lower case.
    let res = d.validate(&id.to_uppercase()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = json_of(res).await;
    assert_eq!(v["uuid"], id.as_str());
    assert_eq!(v["valid"], true);
    assert_eq!(v["status"], "active");
    assert!(v["last_seen_at"].as_str() >= created["last_seen_at"].as_str());
    assert_eq!(v["expires_at"].as_str(), Some(expected_idle_expiry(&v).as_str()));

    // GET does not touch last_seen_at.
    let before = db
        .store()
        .await
        .get_session(parsed)
        .await
        .expect("get")
        .expect("row")
        .last_seen_at;
    let res = c.get(d.url(&format!("/api/session/{id}"))).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::OK);
    let g = json_of(res).await;
    assert_eq!(g["upload_count"], 0);
    assert_eq!(g["upload_bytes"], 0);
    assert_eq!(g["valid"], true);
    assert_eq!(g["last_seen_at"], v["last_seen_at"]);
    let after = db
        .store()
        .await
        .get_session(parsed)
        .await
        .expect("get")
        .expect("row")
        .last_seen_at;
    assert_eq!(before, after);

    // Reset, idempotently.
    for _ in 0..2 {
        let res = c
            .delete(d.url(&format!("/api/session/{id}")))
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let row = db.store().await.get_session(parsed).await.expect("get").expect("row");
    assert_eq!(row.status, SessionStatus::Revoked);
    assert_eq!(row.ended_by.as_deref(), Some("client"));
    assert_problem(d.validate(&id).await, 410, "session_revoked").await;
    d.stop().await;
}

fn expected_idle_expiry(v: &Value) -> String {
    let last = chrono::DateTime::parse_from_rfc3339(v["last_seen_at"].as_str().unwrap_or_default()).expect("ts");
    let exp = last.with_timezone(&chrono::Utc) + chrono::Duration::days(30);
    sessiond_core::domain::rfc3339(exp)
}

async fn every_refusal_has_its_code(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let c = client();
    let validate_url = d.url("/api/session/validate-uuid");

    // 400 malformed_json: not JSON, not an object, empty.
    for body in ["{not json", "[1,2]", "\"x\"", ""] {
        let res = c
            .post(&validate_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        assert_problem(res, 400, "malformed_json").await;
    }
    // 400 missing_field: absent or wrong type.
    for body in [
        json!({}),
        json!({"uuid": 42}),
        json!({"uuid": null}),
        json!({"id": "x"}),
    ] {
        let res = c.post(&validate_url).json(&body).send().await.expect("send");
        let p = assert_problem(res, 400, "missing_field").await;
        assert!(p["detail"].as_str().unwrap_or_default().contains("uuid"));
    }
    let res = c
        .post(d.url("/api/session/generate-uuid"))
        .json(&json!({"user_info": "x"}))
        .send()
        .await
        .expect("send");
    assert_problem(res, 400, "missing_field").await;
    // 400 invalid_uuid_format on every session route.
    for bad in [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        "3f2b6c1e-8a4d-1e2f-9b7c-1d2e3f4a5b6c",
        " 3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c",
    ] {
        assert_problem(d.validate(bad).await, 400, "invalid_uuid_format").await;
    }
    let res = c
        .get(d.url("/api/session/{3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c}"))
        .send()
        .await
        .expect("send");
    assert_problem(res, 400, "invalid_uuid_format").await;
    let res = c
        .delete(d.url("/api/session/3F2B6C1E8A4D4E2F9B7C1D2E3F4A5B6C"))
        .send()
        .await
        .expect("send");
    assert_problem(res, 400, "invalid_uuid_format").await;
    // 404 session_not_found.
    let unknown = Uuid::new_v4().to_string();
    assert_problem(d.validate(&unknown).await, 404, "session_not_found").await;
    let res = c
        .get(d.url(&format!("/api/session/{unknown}")))
        .send()
        .await
        .expect("send");
    assert_problem(res, 404, "session_not_found").await;
    let res = c
        .delete(d.url(&format!("/api/session/{unknown}")))
        .send()
        .await
        .expect("send");
    assert_problem(res, 404, "session_not_found").await;
    // 404 not_found and 405 method_not_allowed with Allow.
    let res = c.get(d.url("/api/nothing-here")).send().await.expect("send");
    assert_problem(res, 404, "not_found").await;
    let res = c.get(d.url("/api/session/generate-uuid")).send().await.expect("send");
    assert_eq!(res.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    assert_problem(res, 405, "method_not_allowed").await;
    let res = c
        .put(d.url(&format!("/api/session/{unknown}")))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD, DELETE")
    );
    assert_problem(res, 405, "method_not_allowed").await;
    // 413 payload_too_large: announced, chunked, and an over-long user_info.
    let big = format!("{{\"uuid\": \"{}\"}}", "x".repeat(5000));
    let res = c
        .post(&validate_url)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("send");
    assert_problem(res, 413, "payload_too_large").await;
    // Chunked, so no Content-Length announces it: the limit holds while reading.
    let mut raw = String::from(
        "POST /api/session/validate-uuid HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in big.as_bytes().chunks(512) {
        raw.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    raw.push_str("0\r\n\r\n");
    let answer = raw_request(d.addr, raw.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"payload_too_large\""), "{answer}");
    let res = c
        .post(d.url("/api/session/generate-uuid"))
        .json(&json!({"user_info": {"blob": "y".repeat(2100)}}))
        .send()
        .await
        .expect("send");
    assert_problem(res, 413, "payload_too_large").await;
    // 415 unsupported_media_type.
    let res = c
        .post(&validate_url)
        .header("content-type", "text/plain")
        .body("{\"uuid\":\"x\"}")
        .send()
        .await
        .expect("send");
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = c
        .post(&validate_url)
        .body("{\"uuid\":\"x\"}")
        .send()
        .await
        .expect("send");
    assert_problem(res, 415, "unsupported_media_type").await;
    // 403 origin_not_allowed for a preflight from elsewhere.
    let res = c
        .request(reqwest::Method::OPTIONS, &validate_url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("send");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_problem(res, 403, "origin_not_allowed").await;
    d.stop().await;
}

async fn expired_on_read_before_any_job(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let store = db.store().await;
    let idle = seed_session(&store, chrono::Duration::days(40), chrono::Duration::days(31), None).await;
    let old = seed_session(&store, chrono::Duration::days(366), chrono::Duration::minutes(1), None).await;
    let fresh = seed_session(&store, chrono::Duration::days(10), chrono::Duration::days(29), None).await;
    let ancient = seed_session(&store, chrono::Duration::days(360), chrono::Duration::minutes(1), None).await;
    for id in [idle, old] {
        assert_problem(d.validate(&id.to_string()).await, 410, "session_expired").await;
        let res = client()
            .get(d.url(&format!("/api/session/{id}")))
            .send()
            .await
            .expect("get");
        assert_problem(res, 410, "session_expired").await;
        // Not marked by a read: the expiry job does that.
        assert_eq!(
            store.get_session(id).await.expect("get").expect("row").status,
            SessionStatus::Active
        );
        // Reset of an expired session is still 204.
        let res = client()
            .delete(d.url(&format!("/api/session/{id}")))
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    // expires_at is the earlier of idle expiry (sliding) and absolute expiry.
    let ts = |v: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap_or_default()).expect("ts");
    let res = d.validate(&fresh.to_string()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(
        ts(&body, "expires_at") - ts(&body, "last_seen_at"),
        chrono::Duration::days(30)
    );
    let res = d.validate(&ancient.to_string()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(res).await;
    assert_eq!(
        ts(&body, "expires_at") - ts(&body, "created_at"),
        chrono::Duration::days(365)
    );
    d.stop().await;
}

/// `session.touch_interval`: a validation rewrites `last_seen_at` only when the stored value is
/// that old or the IP changed, answers what is stored, and is audited every time.
async fn last_seen_is_rewritten_only_when_stale_or_moved(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let settings = db.settings();
    assert_eq!(
        settings.session.touch_interval.get(),
        std::time::Duration::from_secs(60)
    );
    let d = TestDaemon::start(settings).await;
    let store = db.store().await;
    let ts = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v["last_seen_at"].as_str().unwrap_or_default())
            .expect("ts")
            .with_timezone(&chrono::Utc)
    };
    let stored = |id: Uuid| {
        let store = store.clone();
        async move { store.get_session(id).await.expect("get").expect("row") }
    };
    let minute = chrono::Duration::seconds(60);
    let recent = seed_session(&store, minute * 60, chrono::Duration::seconds(10), Some("127.0.0.1")).await;
    let stale = seed_session(&store, minute * 60, minute * 2, Some("127.0.0.1")).await;
    let moved = seed_session(&store, minute * 60, chrono::Duration::seconds(10), Some("10.9.9.9")).await;
    let (recent_before, stale_before) = (stored(recent).await, stored(stale).await);

    for (id, request_id) in [(recent, "touch-recent"), (stale, "touch-stale"), (moved, "touch-moved")] {
        let res = client()
            .post(d.url("/api/session/validate-uuid"))
            .header("x-request-id", request_id)
            .json(&json!({ "uuid": id }))
            .send()
            .await
            .expect("validate");
        assert_eq!(res.status(), StatusCode::OK);
        let body = json_of(res).await;
        let row = stored(id).await;
        // The answer is what is stored, whether or not this call rewrote it.
        assert_eq!(ts(&body), row.last_seen_at, "{request_id}");
        let events = events_for(&store, request_id).await;
        assert_eq!(events.len(), 1, "{request_id}: {events:?}");
        assert_eq!(events[0].event_type, "session.validated");
    }
    // Seen 10 s ago from the same address: nothing rewritten.
    assert_eq!(stored(recent).await, recent_before);
    // Seen 2 min ago: refreshed to the validation's time.
    let row = stored(stale).await;
    assert!(row.last_seen_at >= stale_before.last_seen_at + minute, "{row:?}");
    // New address: refreshed, and the address recorded.
    let row = stored(moved).await;
    assert_eq!(row.last_ip.as_deref(), Some("127.0.0.1"));
    assert!(row.last_seen_at > chrono::Utc::now() - minute, "{row:?}");
    d.stop().await;

    // `0s` rewrites on every validation.
    let mut settings = db.settings();
    settings.session.touch_interval = sessiond_core::config::HumanDuration::secs(0);
    let d = TestDaemon::start(settings).await;
    let res = d.validate(&recent.to_string()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let row = stored(recent).await;
    assert!(row.last_seen_at > recent_before.last_seen_at, "{row:?}");
    assert_eq!(ts(&json_of(res).await), row.last_seen_at);
    d.stop().await;
}

async fn events_for(store: &Arc<dyn Store>, request_id: &str) -> Vec<AuditEvent> {
    store
        .list_audit(&AuditQuery {
            request_id: Some(request_id.to_owned()),
            limit: 100,
            ascending: true,
            ..AuditQuery::default()
        })
        .await
        .expect("list audit")
}

async fn audit_has_one_event_per_operation(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let store = db.store().await;
    let c = client();
    let send = |req: reqwest::RequestBuilder, rid: &str| {
        req.header("x-request-id", rid)
            .header("user-agent", "audit-test/1.0")
            .send()
    };

    let res = send(c.post(d.url("/api/session/generate-uuid")), "gen-1")
        .await
        .expect("send");
    assert_eq!(
        res.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("gen-1")
    );
    let id = json_of(res).await["uuid"].as_str().expect("uuid").to_owned();
    let steps: Vec<(&str, reqwest::RequestBuilder, &str, Option<&str>)> = vec![
        (
            "val-1",
            c.post(d.url("/api/session/validate-uuid")).json(&json!({"uuid": id})),
            "session.validated",
            None,
        ),
        (
            "get-1",
            c.get(d.url(&format!("/api/session/{id}"))),
            "session.read",
            None,
        ),
        (
            "bad-1",
            c.post(d.url("/api/session/validate-uuid"))
                .json(&json!({"uuid": "zzz"})),
            "session.validation_failed",
            Some("invalid_format"),
        ),
        (
            "unk-1",
            c.post(d.url("/api/session/validate-uuid"))
                .json(&json!({"uuid": Uuid::new_v4()})),
            "session.validation_failed",
            Some("not_found"),
        ),
        (
            "mal-1",
            c.post(d.url("/api/session/validate-uuid"))
                .header("content-type", "application/json")
                .body("{"),
            "request.rejected",
            None,
        ),
        (
            "del-1",
            c.delete(d.url(&format!("/api/session/{id}"))),
            "session.reset",
            None,
        ),
        (
            "rev-1",
            c.post(d.url("/api/session/validate-uuid")).json(&json!({"uuid": id})),
            "session.validation_failed",
            Some("revoked"),
        ),
    ];
    let mut rids = vec!["gen-1"];
    for (rid, req, _, _) in &steps {
        let req = req.try_clone().expect("clone request");
        send(req, rid).await.expect("send");
        rids.push(rid);
    }
    let expected: Vec<(&str, &str, Option<&str>)> = std::iter::once(("gen-1", "session.generated", None))
        .chain(steps.iter().map(|(rid, _, ty, reason)| (*rid, *ty, *reason)))
        .collect();
    for (rid, ty, reason) in expected {
        let events = events_for(&store, rid).await;
        assert_eq!(events.len(), 1, "exactly one event for {rid}: {events:?}");
        let e = &events[0];
        assert_eq!(e.event_type, ty, "{rid}");
        assert_eq!(e.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.user_agent.as_deref(), Some("audit-test/1.0"));
        assert_eq!(e.actor, "client");
        if let Some(reason) = reason {
            assert_eq!(e.metadata["reason"], reason, "{rid}");
            assert_eq!(e.severity, "warning");
        }
        if ty.starts_with("session.") && reason != Some("invalid_format") {
            assert!(e.session_id.is_some(), "{rid} names its session");
        }
    }
    // And nothing else was written.
    let all = store
        .list_audit(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), rids.len(), "{all:?}");

    // An unusable X-Request-Id is replaced by a generated one.
    let res = c
        .get(d.url("/healthz"))
        .header("x-request-id", "has space")
        .send()
        .await
        .expect("send");
    let got = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(!got.is_empty() && got != "has space");
    let res = c
        .get(d.url("/healthz"))
        .header("x-request-id", "a".repeat(65))
        .send()
        .await
        .expect("send");
    assert_ne!(
        res.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("a".repeat(65).as_str())
    );
    d.stop().await;
}

/// Hands out one fixed id `collisions` times, then random ones.
struct Colliding {
    fixed: Uuid,
    collisions: usize,
    calls: AtomicUsize,
}

impl IdGenerator for Colliding {
    fn next_id(&self) -> Uuid {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.collisions {
            self.fixed
        } else {
            Uuid::new_v4()
        }
    }
}

async fn colliding_ids_are_retried_then_fail_as_internal(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    let taken = seed_session(&store, chrono::Duration::zero(), chrono::Duration::zero(), None).await;

    // Three collisions, then a fresh id: success on the fourth attempt.
    let ids = Arc::new(Colliding {
        fixed: taken,
        collisions: 3,
        calls: AtomicUsize::new(0),
    });
    let d = TestDaemon::start_with(
        db.settings(),
        Hooks {
            ids: Some(ids.clone()),
            ..Hooks::default()
        },
    )
    .await;
    let id = generate(&d).await;
    assert_ne!(id, taken.to_string());
    assert_eq!(ids.calls.load(Ordering::SeqCst), 4);
    d.stop().await;

    // Always colliding: 500 internal_error, audited as critical request.error.
    let before = store.count_sessions().await.expect("count").active;
    let ids = Arc::new(Colliding {
        fixed: taken,
        collisions: usize::MAX,
        calls: AtomicUsize::new(0),
    });
    let d = TestDaemon::start_with(
        db.settings(),
        Hooks {
            ids: Some(ids.clone()),
            ..Hooks::default()
        },
    )
    .await;
    let res = client()
        .post(d.url("/api/session/generate-uuid"))
        .header("x-request-id", "boom-1")
        .send()
        .await
        .expect("send");
    assert_problem(res, 500, "internal_error").await;
    assert_eq!(
        ids.calls.load(Ordering::SeqCst),
        sessiond_core::session::MAX_ID_ATTEMPTS
    );
    let events = events_for(&store, "boom-1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "request.error");
    assert_eq!(events[0].severity, "critical");
    assert_eq!(
        store.count_sessions().await.expect("count").active,
        before,
        "no session was created"
    );
    d.stop().await;
}

async fn failed_audit_batch_is_503_and_stores_nothing(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let id = generate(&d).await;
    let admin = db.store().await;
    // Take the audit table away: every batch now fails to commit.
    db.exec("ALTER TABLE audit_events RENAME TO audit_events_away").await;
    let res = client()
        .post(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_problem(res, 503, "database_unavailable").await;
    let res = d.validate(&id).await;
    assert_problem(res, 503, "database_unavailable").await;
    let res = client()
        .delete(d.url(&format!("/api/session/{id}")))
        .send()
        .await
        .expect("send");
    assert_problem(res, 503, "database_unavailable").await;
    db.exec("ALTER TABLE audit_events_away RENAME TO audit_events").await;
    // Nothing from the failed batches was stored: one session, still active, one event.
    let counts = admin.count_sessions().await.expect("count");
    assert_eq!((counts.active, counts.revoked), (1, 0));
    let all = admin
        .list_audit(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 1, "{all:?}");
    // And the daemon recovers.
    assert_eq!(d.validate(&id).await.status(), StatusCode::OK);
    d.stop().await;
}

async fn cors_and_security_headers(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let c = client();
    let h =
        |res: &reqwest::Response, name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);

    // Allowed origin: echoed, Vary, exposed headers; never `*`.
    let res = c
        .post(d.url("/api/session/generate-uuid"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("send");
    assert_eq!(
        h(&res, "access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    assert_eq!(h(&res, "vary").as_deref(), Some("Origin"));
    let exposed = h(&res, "access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    for name in [
        "x-request-id",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ] {
        assert!(exposed.contains(name), "{name} exposed");
    }
    assert_eq!(h(&res, "access-control-allow-credentials"), None);
    assert_eq!(h(&res, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(h(&res, "cache-control").as_deref(), Some("no-store"));

    // Disallowed origin: no CORS headers at all, the request itself is still answered.
    let res = c
        .post(d.url("/api/session/generate-uuid"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().keys().all(|k| !k.as_str().starts_with("access-control-")));

    // Preflight from an allowed origin.
    let res = c
        .request(reqwest::Method::OPTIONS, d.url("/api/session/validate-uuid"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h(&res, "access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    assert_eq!(
        h(&res, "access-control-allow-methods").as_deref(),
        Some("GET, POST, DELETE")
    );
    assert_eq!(
        h(&res, "access-control-allow-headers").as_deref(),
        Some("content-type, x-request-id")
    );
    assert_eq!(h(&res, "access-control-max-age").as_deref(), Some("600"));
    assert_eq!(h(&res, "vary").as_deref(), Some("Origin"));
    d.stop().await;

    // Credentials when configured.
    let mut s = db.settings();
    s.cors.allow_credentials = true;
    s.cors.allowed_origins = vec!["https://app.example".into()];
    let d = TestDaemon::start(s).await;
    let res = c
        .get(d.url("/api/session/x"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("send");
    assert_eq!(h(&res, "access-control-allow-credentials").as_deref(), Some("true"));
    assert_eq!(
        h(&res, "access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let res = c
        .get(d.url("/api/session/x"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("send");
    assert_eq!(h(&res, "access-control-allow-origin"), None);
    d.stop().await;
}

async fn operational_endpoints(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    let c = client();
    let res = c.get(d.url("/healthz")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let res = c.get(d.url("/readyz")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["database"], "ok");

    generate(&d).await;
    // An invented method is answered and counted, but as `other`: label values are series
    // the daemon keeps for its life, so clients must not be able to mint them.
    let brew = reqwest::Method::from_bytes(b"BREW").expect("method");
    let res = c
        .request(brew, d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = c.get(d.url("/metrics")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("text");
    assert!(
        text.contains(r#"sessiond_http_requests_total{route="unmatched",method="other",status="405"} 1"#),
        "{text}"
    );
    assert!(!text.contains("BREW"), "{text}");
    assert!(
        text.contains(
            r#"sessiond_http_requests_total{route="/api/session/generate-uuid",method="POST",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("sessiond_http_request_duration_seconds_bucket"));
    assert!(text.contains("sessiond_audit_batch_ops_count"));
    assert!(text.contains("sessiond_db_pool_connections"));

    // The OpenAPI document served is the one in the repository, and it matches the routes.
    let res = c.get(d.url("/api/openapi.json")).send().await.expect("send");
    let served = json_of(res).await;
    let kept: Value = serde_json::from_str(sessiond::handlers::OPENAPI).expect("openapi.json parses");
    assert_eq!(served, kept);
    assert_eq!(served["openapi"], "3.1.0");
    let paths = served["paths"].as_object().expect("paths");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in paths {
        for m in ["get", "post", "delete", "put", "patch"] {
            if item.get(m).is_some() {
                documented.push((path.clone(), m.to_uppercase()));
            }
        }
    }
    let mut routed: Vec<(String, String)> = sessiond::routes::TABLE
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (p.to_string(), m.to_string())))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(
        documented, routed,
        "the OpenAPI document and the route table must agree"
    );
    // Every documented operation is answered by the running daemon (never 404 not_found / 405).
    for (path, method) in &documented {
        let concrete = path
            .replace("{uuid}", &Uuid::new_v4().to_string())
            .replace("{id}", &Uuid::new_v4().to_string());
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let res = c.request(m, d.url(&concrete)).send().await.expect("send");
        let status = res.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body = json_of(res).await;
            assert_ne!(
                body["code"], "not_found",
                "{method} {path} is documented but not routed"
            );
        }
        // Every documented error status is declared for the operation.
        if !status.is_success() && status != StatusCode::NOT_FOUND {
            let op = &paths[path.as_str()][method.to_lowercase().as_str()];
            assert!(
                op["responses"].get(status.as_str()).is_some(),
                "{method} {path} answered {status}, undocumented"
            );
        }
    }
    d.stop().await;

    // /metrics only for metrics.allow.
    let mut s = db.settings();
    s.metrics.allow = vec!["10.0.0.0/8".parse().expect("cidr")];
    let d = TestDaemon::start(s).await;
    let res = c.get(d.url("/metrics")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    d.stop().await;
}

async fn request_timeout_is_408(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let mut s = db.settings();
    s.server.request_timeout = sessiond_core::config::HumanDuration(std::time::Duration::from_millis(300));
    let d = TestDaemon::start(s).await;
    // Announce a body and never send it: the deadline answers for us.
    let answer = raw_request(
        d.addr,
        b"POST /api/session/validate-uuid HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{\"uuid\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    d.stop().await;
}

/// PostgreSQL going away: `/readyz` names the database, API calls answer 503, and both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_503_and_readyz_names_it() {
    let db = TestDb::new(DbKind::Postgres).await;
    let d = TestDaemon::start(db.settings()).await;
    let id = generate(&d).await;
    let name = db.url.rsplit('/').next().expect("db name").to_owned();
    let admin_url = sessiond_tests::postgres_admin_url();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
    )))
    .execute(&mut admin)
    .await
    .expect("alter");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut admin)
    .await
    .expect("terminate");
    let res = client().get(d.url("/readyz")).send().await.expect("readyz");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    let body = json_of(res).await;
    assert_eq!(body["failing"], json!(["database"]));
    assert_problem(d.validate(&id).await, 503, "database_unavailable").await;
    assert_eq!(
        client().get(d.url("/healthz")).send().await.expect("healthz").status(),
        StatusCode::OK,
        "liveness is not readiness"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin)
    .await
    .expect("alter");
    assert_eq!(
        client().get(d.url("/readyz")).send().await.expect("readyz").status(),
        StatusCode::OK
    );
    assert_eq!(d.validate(&id).await.status(), StatusCode::OK);
    d.stop().await;
}
