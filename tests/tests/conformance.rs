//! The server against its contract (issue 16, "The contract must match the server", and its
//! low items): `HEAD` wherever `GET` is, control characters in an upload's filename dropped
//! rather than the upload refused, the order of checks on upload ids, `user_info` typed as an
//! object or null. On SQLite and PostgreSQL. (The whole document is exercised against the
//! running daemon by schemathesis in `scripts/suites/conformance.sh`.)

use reqwest::StatusCode;
use serde_json::{Value, json};
use sessiond_core::audit::EventType;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, events_of, on_both_backends, raw_request};
use uuid::Uuid;

on_both_backends!(
    head_answers_as_get_without_a_body,
    control_characters_leave_the_filename,
    upload_id_format_is_checked_before_the_session,
    user_info_is_an_object_or_null,
);

async fn start(kind: DbKind) -> (TestDb, TestDaemon) {
    let db = TestDb::new(kind).await;
    let d = TestDaemon::start(db.settings()).await;
    (db, d)
}

async fn generate(d: &TestDaemon) -> String {
    let res = client()
        .post(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.expect("json");
    body["uuid"].as_str().expect("uuid").to_owned()
}

async fn problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    body
}

/// The status line, the headers (lower-cased names) and the body of a raw HTTP/1.1 answer.
fn split_answer(answer: &str) -> (String, Vec<(String, String)>, String) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn head_answers_as_get_without_a_body(kind: DbKind) {
    let (_db, d) = start(kind).await;
    let s = generate(&d).await;
    let unknown = Uuid::new_v4();
    for (path, status) in [
        ("/healthz".to_owned(), "200"),
        ("/api/openapi.json".to_owned(), "200"),
        (format!("/api/session/{s}"), "200"),
        (format!("/api/session/{s}/uploads"), "200"),
        (format!("/api/session/{unknown}"), "404"),
        ("/api/session/nope".to_owned(), "400"),
    ] {
        // What GET says, headers and length, with no body after it.
        let get = client().get(d.url(&path)).send().await.expect("get");
        assert_eq!(get.status().as_str(), status, "GET {path}");
        let get_type = get.headers().get("content-type").cloned();
        let get_len = get.bytes().await.expect("GET body").len();
        assert!(get_len > 0, "GET {path} has a body");
        let request = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let answer = raw_request(d.addr, request.as_bytes()).await;
        let (line, headers, body) = split_answer(&answer);
        assert!(line.starts_with(&format!("HTTP/1.1 {status} ")), "HEAD {path}: {line}");
        assert_eq!(body, "", "HEAD {path} sends no body");
        assert_eq!(
            header(&headers, "content-type"),
            get_type.as_ref().and_then(|v| v.to_str().ok()),
            "HEAD {path}"
        );
        // The length GET would have sent, when it is known up front (the answers here differ
        // between the two requests only in fixed-width fields: timestamps, request ids).
        if let Some(len) = header(&headers, "content-length") {
            assert_eq!(len.parse::<usize>().ok(), Some(get_len), "HEAD {path}");
        }
    }
    // Where GET is not allowed, neither is HEAD; Allow lists HEAD wherever GET is.
    let res = client()
        .head(d.url("/api/session/generate-uuid"))
        .send()
        .await
        .expect("head");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    for (path, allow) in [
        (format!("/api/session/{s}"), "GET, HEAD, DELETE"),
        (format!("/api/session/{s}/uploads"), "GET, HEAD, POST"),
        ("/healthz".to_owned(), "GET, HEAD"),
    ] {
        let res = client().put(d.url(&path)).send().await.expect("put");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "PUT {path}");
        assert_eq!(res.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow));
    }
    d.stop().await;
}

/// One `file` part with `filename` as raw bytes in its header.
fn upload_body(filename: &[u8], content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "sessiondconformanceboundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").into_bytes();
    body.extend_from_slice(filename);
    body.extend_from_slice(b"\"\r\nContent-Type: application/pdf\r\n\r\n");
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn control_characters_leave_the_filename(kind: DbKind) {
    let (_db, d) = start(kind).await;
    let s = generate(&d).await;
    let content = b"%PDF-1.7\n\x1b\x7f\x00 the content keeps every byte\n%%EOF";
    for (raw, stored) in [
        (&b"a\x1bb\x7fc.pdf"[..], "abc.pdf"),
        (&b"\x01re\x08port\x0b\x0c\x1f.pdf"[..], "report.pdf"),
        // TAB and C1 controls (which the header parser lets through) go the same way.
        ("x\ty\u{85}z.pdf".as_bytes(), "xyz.pdf"),
        (&b"\x1b\x7f"[..], "upload.pdf"),
    ] {
        let (ct, body) = upload_body(raw, content);
        let res = client()
            .post(d.url(&format!("/api/session/{s}/uploads")))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), StatusCode::CREATED, "{raw:?}");
        let up: Value = res.json().await.expect("json");
        assert_eq!(up["filename"], stored, "{raw:?}");
        assert_eq!(up["size"], content.len(), "{raw:?}");
        let id = up["id"].as_str().expect("id");
        let res = client()
            .get(d.url(&format!("/api/session/{s}/uploads/{id}")))
            .send()
            .await
            .expect("download");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.bytes().await.expect("bytes").as_ref(), &content[..], "{raw:?}");
    }
    d.stop().await;
}

async fn upload_id_format_is_checked_before_the_session(kind: DbKind) {
    let (db, d) = start(kind).await;
    let c = client();
    let revoked = generate(&d).await;
    let res = c
        .delete(d.url(&format!("/api/session/{revoked}")))
        .send()
        .await
        .expect("reset");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let live = generate(&d).await;
    let unknown = Uuid::new_v4().to_string();
    // Not v4 (a v5 id), braces, and plain garbage, as an upload id.
    let bad_ids = [
        "nope",
        "{3f2b6c1e-8a4d-4e2f-9b7c-1d2e3f4a5b6c}",
        "c8782d35-aacb-5bae-a70f-9fd69aa3ec65",
    ];
    for session in [&revoked, &live, &unknown] {
        for bad in bad_ids {
            let url = d.url(&format!("/api/session/{session}/uploads/{bad}"));
            let body = problem(c.get(&url).send().await.expect("get"), 400, "invalid_uuid_format").await;
            assert!(
                body["detail"].as_str().unwrap_or_default().contains("upload id"),
                "{body}"
            );
            problem(c.delete(&url).send().await.expect("delete"), 400, "invalid_uuid_format").await;
        }
    }
    // A bad session id is named first, whatever the upload id.
    let res = c
        .get(d.url("/api/session/nope/uploads/nope"))
        .send()
        .await
        .expect("get");
    let body = problem(res, 400, "invalid_uuid_format").await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("session id"),
        "{body}"
    );
    // Good ids still get their 410 / 404.
    let good = Uuid::new_v4();
    let res = c
        .get(d.url(&format!("/api/session/{revoked}/uploads/{good}")))
        .send()
        .await
        .expect("get");
    problem(res, 410, "session_revoked").await;
    let res = c
        .delete(d.url(&format!("/api/session/{live}/uploads/{good}")))
        .send()
        .await
        .expect("delete");
    problem(res, 404, "upload_not_found").await;
    d.stop().await;
    // Malformed upload ids are audited as rejected requests (the refusal log writes the first of
    // each code, route and method per client and window, then a summary).
    let rejected = events_of(db.store().await.as_ref(), EventType::RequestRejected.as_str()).await;
    for method in ["GET", "DELETE"] {
        assert!(
            rejected.iter().any(|e| e.metadata["code"] == "invalid_uuid_format"
                && e.metadata["method"] == method
                && e.metadata["route"] == "/api/session/{uuid}/uploads/{id}"),
            "{method}: {rejected:?}"
        );
    }
}

async fn user_info_is_an_object_or_null(kind: DbKind) {
    let (_db, d) = start(kind).await;
    let url = d.url("/api/session/generate-uuid");
    for ok in [
        json!({}),
        json!({"user_info": null}),
        json!({"user_info": {"locale": "de-DE"}}),
    ] {
        let res = client().post(&url).json(&ok).send().await.expect("generate");
        assert_eq!(res.status(), StatusCode::CREATED, "{ok}");
    }
    for bad in [json!("x"), json!(1), json!(true), json!([]), json!([{"a": 1}])] {
        let res = client()
            .post(&url)
            .json(&json!({ "user_info": bad }))
            .send()
            .await
            .expect("generate");
        let body = problem(res, 400, "missing_field").await;
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("user_info"),
            "{body}"
        );
    }
    d.stop().await;
}
