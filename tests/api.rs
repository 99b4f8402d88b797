//! The daemon's HTTP API over real HTTP on loopback: signed callbacks accepted once and
//! applied once, bad signatures and stale timestamps refused, one-click unsubscribe,
//! health and metrics. The daemon is a separate process, so the tests poll the database
//! with a deadline.

mod common;

use std::time::{Duration, Instant};

use common::{CONTACTS, Workspace, http, scalar, stop};
use herald::store::SqliteStore;

const SECRET: &str = "test-secret-for-callbacks-0123456789";

async fn key_of_first_attempt(ws: &Workspace) -> String {
    let store = SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let key: String =
        sqlx::query_scalar("SELECT idempotency_key FROM attempts ORDER BY id LIMIT 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
    store.pool().close().await;
    key
}

async fn phone_of_last_attempt(ws: &Workspace) -> String {
    let store = SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let phone: String = sqlx::query_scalar(
        "SELECT c.phone FROM attempts a JOIN contacts c ON c.id = a.contact_id ORDER BY a.id DESC LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
    phone
}

async fn wait_for(ws: &Workspace, what: &str, sql: &'static str, want: i64) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let n = scalar(ws, sql).await;
        if n == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}: {n} != {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signed(body: &str, at: chrono::DateTime<chrono::Utc>) -> (String, String) {
    herald::api::sign_callback(SECRET.as_bytes(), body.as_bytes(), at)
}

#[tokio::test]
async fn callbacks_are_signed_accepted_once_and_applied_once() {
    let ws = Workspace::due_now("100/s");
    let port = common::free_port();
    let daemon = common::spawn(&ws, &["run"], port, &[("HERALD_SECRET", SECRET)]);
    wait_for(
        &ws,
        "every attempt sent",
        "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL",
        CONTACTS as i64,
    )
    .await;
    let (status, body) = http(port, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "{body}");

    let key = key_of_first_attempt(&ws).await;
    let body = format!(
        r#"{{"event_id":"evt-1","idempotency_key":"{key}","type":"reply","text":"I paid yesterday"}}"#
    );
    let (ts, sig) = signed(&body, chrono::Utc::now());
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Herald-Timestamp", ts.as_str()),
        ("X-Herald-Signature", sig.as_str()),
    ];
    let (status, first) = http(
        port,
        "POST",
        "/webhooks/acme-sms",
        &headers,
        body.as_bytes(),
    );
    assert_eq!(
        (status, first.contains("\"duplicate\":false")),
        (202, true),
        "{first}"
    );
    let (status, again) = http(
        port,
        "POST",
        "/webhooks/acme-sms",
        &headers,
        body.as_bytes(),
    );
    assert_eq!(
        (status, again.contains("\"duplicate\":true")),
        (202, true),
        "{again}"
    );
    wait_for(
        &ws,
        "the reply applied",
        "SELECT COUNT(*) FROM events WHERE kind = 'replied'",
        1,
    )
    .await;

    // A forged signature, an altered body and a replayed old timestamp are refused.
    let forged = [
        ("X-Herald-Timestamp", ts.as_str()),
        ("X-Herald-Signature", "v1=00ff"),
    ];
    assert_eq!(
        http(port, "POST", "/webhooks/acme-sms", &forged, body.as_bytes()).0,
        401
    );
    let altered = body.replace("yesterday", "never");
    assert_eq!(
        http(
            port,
            "POST",
            "/webhooks/acme-sms",
            &headers,
            altered.as_bytes()
        )
        .0,
        401
    );
    let (old_ts, old_sig) = signed(&body, chrono::Utc::now() - chrono::Duration::minutes(10));
    let stale = [
        ("X-Herald-Timestamp", old_ts.as_str()),
        ("X-Herald-Signature", old_sig.as_str()),
    ];
    assert_eq!(
        http(port, "POST", "/webhooks/acme-sms", &stale, body.as_bytes()).0,
        401
    );
    assert_eq!(
        http(port, "POST", "/webhooks/acme-sms", &[], body.as_bytes()).0,
        401
    );
    // A signed but malformed body is a 400, and stores nothing.
    let junk = r#"{"event_id":"evt-2"}"#;
    let (ts2, sig2) = signed(junk, chrono::Utc::now());
    let junk_headers = [
        ("X-Herald-Timestamp", ts2.as_str()),
        ("X-Herald-Signature", sig2.as_str()),
    ];
    assert_eq!(
        http(
            port,
            "POST",
            "/webhooks/acme-sms",
            &junk_headers,
            junk.as_bytes()
        )
        .0,
        400
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM inbox WHERE provider = 'acme-sms'"
        )
        .await,
        1
    );

    // A reply addressed by the sender's number answers the latest SMS sent to them.
    let phone = phone_of_last_attempt(&ws).await;
    let post = |body: String| {
        let (ts, sig) = signed(&body, chrono::Utc::now());
        let headers = [
            ("X-Herald-Timestamp", ts.as_str()),
            ("X-Herald-Signature", sig.as_str()),
        ];
        http(
            port,
            "POST",
            "/webhooks/acme-sms",
            &headers,
            body.as_bytes(),
        )
    };
    let (status, by_phone) = post(format!(
        r#"{{"event_id":"evt-3","from":"{phone}","type":"reply","text":"Will pay Friday"}}"#
    ));
    assert_eq!(status, 202, "{by_phone}");
    assert!(by_phone.contains("\"accepted\":true"), "{by_phone}");
    wait_for(
        &ws,
        "the reply by phone applied",
        "SELECT COUNT(*) FROM events WHERE kind = 'replied'",
        2,
    )
    .await;
    let (status, stranger) = post(
        r#"{"event_id":"evt-4","from":"+447999000111","type":"reply","text":"who is this"}"#.into(),
    );
    assert_eq!(status, 202);
    assert!(stranger.contains("\"accepted\":false"), "{stranger}");
    // Once a second contact shares the number, a reply from it is not guessed at.
    ws.write("twin.csv", &format!("external_id,phone\nTWIN,{phone}\n"));
    ws.herald(&["contacts", "import", "twin.csv"]).ok();
    let (status, shared) = post(format!(
        r#"{{"event_id":"evt-5","from":"{phone}","type":"reply","text":"Who sent this?"}}"#
    ));
    assert_eq!(status, 202);
    assert!(shared.contains("several contacts"), "{shared}");

    let (status, metrics) = http(port, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("herald_attempts{channel=\"sms\",state="),
        "{metrics}"
    );
    assert!(metrics.contains("herald_inbox_pending "), "{metrics}");
    assert!(stop(daemon, "-TERM").status.success());
}

#[tokio::test]
async fn a_one_click_unsubscribe_opts_the_person_out_and_a_forged_link_does_nothing() {
    let ws = Workspace::due_now("100/s");
    let port = common::free_port();
    let daemon = common::spawn(&ws, &["run"], port, &[("HERALD_SECRET", SECRET)]);
    wait_for(
        &ws,
        "every attempt sent",
        "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL",
        CONTACTS as i64,
    )
    .await;
    let key = key_of_first_attempt(&ws).await;
    let token = herald::signing::link_token(SECRET.as_bytes(), &key);
    let (status, page) = http(port, "GET", &format!("/u/{token}"), &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("Unsubscribe"), "{page}");
    let forged = token.replace("-a1.", "-a2.");
    assert_eq!(http(port, "POST", &format!("/u/{forged}"), &[], b"").0, 404);
    let one_click = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, done) = http(
        port,
        "POST",
        &format!("/u/{token}"),
        &one_click,
        b"List-Unsubscribe=One-Click",
    );
    assert_eq!(status, 200, "{done}");
    wait_for(
        &ws,
        "the opt-out recorded",
        "SELECT COUNT(*) FROM suppressions WHERE kind = 'opt_out'",
        1,
    )
    .await;
    assert!(stop(daemon, "-TERM").status.success());
}

#[test]
fn the_api_refuses_an_outside_address_without_a_real_secret_and_a_token() {
    let ws = Workspace::bare();
    let port = common::free_port();
    let outside = format!("0.0.0.0:{port}");
    let refused = ws
        .command(&["run"])
        .env("HERALD_API_BIND", &outside)
        .env_remove("HERALD_SECRET")
        .env_remove("HERALD_API_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing to serve the HTTP API on 0.0.0.0"),
        "{stderr}"
    );
    assert!(stderr.contains("HERALD_SECRET"), "{stderr}");
    assert!(stderr.contains("HERALD_API_TOKEN"), "{stderr}");
    assert!(
        std::net::TcpListener::bind(("0.0.0.0", port)).is_ok(),
        "nothing was left listening"
    );
    // A real secret but still no token: refused, naming only the token.
    let refused = ws
        .command(&["run"])
        .env("HERALD_API_BIND", &outside)
        .env("HERALD_SECRET", "a-real-secret-of-enough-length")
        .env_remove("HERALD_API_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(!stderr.contains("HERALD_SECRET"), "{stderr}");
    assert!(stderr.contains("HERALD_API_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn metrics_ask_for_the_api_token_when_one_is_set() {
    let ws = Workspace::bare();
    let port = common::free_port();
    let daemon = common::spawn(
        &ws,
        &["run"],
        port,
        &[("HERALD_API_TOKEN", "metrics-token-0123456789")],
    );
    common::wait_port(port);
    let (status, _) = http(port, "GET", "/metrics", &[], b"");
    assert_eq!(status, 401, "no token");
    let (status, _) = http(
        port,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-token-012345678")],
        b"",
    );
    assert_eq!(status, 401, "a token one character short");
    let (status, body) = http(
        port,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer metrics-token-0123456789")],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("herald_"), "{body}");
    let (status, _) = http(port, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "health checks need no token");
    assert!(stop(daemon, "-TERM").status.success());
}
