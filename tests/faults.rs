//! Provider faults over real HTTP on loopback: the engine (real SQLite file, virtual
//! clock) sends through `herald provider-sim`, which is told to fail in the ways real
//! providers do. Retry-After is honoured, temporary failures back off exponentially and
//! are given up in the end, an outage opens the circuit breaker (no request while it is
//! open), a lost answer is retried under the same key and sent once, a refused
//! connection is retried, and an invalid number is suppressed. No sleeps: the virtual
//! clock is set, and the queue drained with `run_until_idle`.

mod common;

use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::world::{World, world_configured};
use common::{free_port, http, wait_port};
use herald::domain::ledger::{Attempt, AttemptState};
use herald::domain::outcome::Outcome;
use herald::engine::{BASE_BACKOFF, MAX_BACKOFF, MAX_SEND_FAILURES};
use herald::store::Store;

/// One SMS to everyone on Monday 09:00 (inside the example's SMS hours).
const CAMPAIGN: &str = r#"kind = "reminder"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#;

/// The same, an hour later.
const LATER: &str = r#"kind = "reminder"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T10:00:00Z
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#;

fn nine() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
}

fn people(n: usize) -> String {
    let mut csv = String::from("external_id,first_name,phone,balance\n");
    for i in 0..n {
        csv.push_str(&format!("P{i},Pat,+4474001{i:05},100\n"));
    }
    csv
}

/// `herald provider-sim` on `port`, without callbacks (the engine runs without its API).
struct Provider {
    child: Child,
    port: u16,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start(w: &World, port: u16) -> Provider {
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["provider-sim", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--no-callbacks")
            .current_dir(w.dir.path())
            .env_remove("HERALD_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("herald provider-sim");
        wait_port(port);
        Provider { child, port }
    }

    /// Queues faults for the next requests (`POST /v1/faults`).
    fn faults(&self, json: &str) {
        let (status, body) = http(
            self.port,
            "POST",
            "/v1/faults",
            &[("Content-Type", "application/json")],
            json.as_bytes(),
        );
        assert_eq!(status, 204, "{body}");
    }

    fn stats(&self) -> serde_json::Value {
        let (status, body) = http(self.port, "GET", "/v1/stats", &[], b"");
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }

    fn requests_by_key(&self) -> serde_json::Map<String, serde_json::Value> {
        let (_, body) = http(self.port, "GET", "/v1/keys", &[], b"");
        serde_json::from_str(&body).unwrap()
    }
}

/// The SMS provider at `port`, answering within `timeout` seconds.
fn sms_at(port: u16, timeout: u64) -> String {
    format!(
        "[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{port}\"\ntimeout_secs = {timeout}\n"
    )
}

/// Everything due at `t`, done.
async fn at(w: &World, t: DateTime<Utc>) {
    w.clock.set(t);
    w.engine.run_until_idle().await.unwrap();
}

async fn all_attempts(w: &World, n: usize) -> Vec<Attempt> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend(w.attempts(&format!("P{i}")).await);
    }
    out
}

async fn event_kinds(w: &World, attempt: &Attempt) -> Vec<String> {
    let contact = w
        .engine
        .store
        .contact_by_id(attempt.contact_id)
        .await
        .unwrap()
        .unwrap();
    w.engine
        .store
        .events_of_contact(contact.id, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| {
            e["campaign"] == attempt.campaign.as_str()
                && e["step"] == attempt.step.as_str()
                && e["attempt"] == attempt.attempt_no
        })
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_and_the_message_goes_once() {
    let port = free_port();
    let w = world_configured(&[("test", CAMPAIGN)], &sms_at(port, 5), &people(1)).await;
    let provider = Provider::start(&w, port);
    provider.faults(r#"[{"fault": "status", "status": 429, "retry_after": "600"}]"#);

    at(&w, nine()).await;
    let a = &w.attempts("P0").await[0];
    assert_eq!(a.state, AttemptState::Queued);
    assert_eq!(a.reason.as_deref(), Some("provider_unavailable"));
    assert_eq!(
        a.not_before,
        nine() + Duration::seconds(600),
        "Retry-After (600 s) is longer than the first backoff, so it decides"
    );

    at(&w, nine() + Duration::seconds(599)).await;
    assert_eq!(
        provider.stats()["accepted"],
        0,
        "nothing before Retry-After"
    );
    at(&w, nine() + Duration::seconds(600)).await;
    let a = &w.attempts("P0").await[0];
    assert!(
        matches!(a.state, AttemptState::Sent | AttemptState::Done),
        "{a:?}"
    );
    let stats = provider.stats();
    assert_eq!(
        (stats["requests"].as_u64(), stats["accepted"].as_u64()),
        (Some(2), Some(1)),
        "{stats}"
    );
}

#[tokio::test]
async fn temporary_failures_back_off_exponentially_with_jitter_then_the_attempt_is_given_up() {
    let port = free_port();
    let w = world_configured(&[("test", CAMPAIGN)], &sms_at(port, 5), &people(1)).await;
    let provider = Provider::start(&w, port);
    provider.faults(r#"[{"fault": "status", "status": 500, "times": 100}]"#);

    let mut now = nine();
    at(&w, now).await;
    for failures in 1..MAX_SEND_FAILURES {
        let a = &w.attempts("P0").await[0];
        assert_eq!(a.state, AttemptState::Queued, "after {failures} failures");
        let wait = a.not_before - now;
        let full = (BASE_BACKOFF * 2i32.pow(failures as u32 - 1)).min(MAX_BACKOFF);
        assert!(
            wait >= full / 2 && wait <= full,
            "failure {failures}: waited {wait}, expected between {} and {full}",
            full / 2
        );
        // Nothing is tried before the backoff ends.
        at(&w, a.not_before - Duration::seconds(1)).await;
        assert_eq!(provider.stats()["requests"], failures);
        now = a.not_before;
        at(&w, now).await;
    }
    let a = &w.attempts("P0").await[0];
    assert_eq!(a.state, AttemptState::Done);
    assert_eq!(a.outcome, Some(Outcome::Failed));
    assert_eq!(provider.stats()["requests"], MAX_SEND_FAILURES);
    assert_eq!(provider.stats()["accepted"], 0);
    let kinds = event_kinds(&w, a).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "send_failed").count() as i64,
        MAX_SEND_FAILURES - 1
    );
    assert!(kinds.iter().any(|k| k == "failed"), "{kinds:?}");
}

#[tokio::test]
async fn an_outage_opens_the_breaker_and_no_request_is_made_while_it_is_open() {
    let port = free_port();
    let n = 20;
    let w = world_configured(&[("test", CAMPAIGN)], &sms_at(port, 5), &people(n)).await;
    let provider = Provider::start(&w, port);
    // Five failures open the breaker; the probe after the first cool-down fails too.
    provider.faults(r#"[{"fault": "status", "status": 503, "times": 6}]"#);

    at(&w, nine()).await;
    assert_eq!(
        provider.stats()["requests"],
        5,
        "the breaker opened after 5 failures"
    );
    let attempts = all_attempts(&w, n).await;
    let paused = attempts
        .iter()
        .filter(|a| a.reason.as_deref() == Some("provider_paused"))
        .count();
    assert_eq!(
        paused,
        n - 5,
        "the rest wait for the cool-down without a request"
    );
    assert!(attempts.iter().all(|a| a.state == AttemptState::Queued));

    // Still open: nothing goes out.
    at(&w, nine() + Duration::seconds(29)).await;
    assert_eq!(provider.stats()["requests"], 5);
    // The cool-down (30 s) is over: one probe, which fails; the breaker opens for 60 s.
    let probe_at = nine() + Duration::seconds(45);
    at(&w, probe_at).await;
    assert_eq!(provider.stats()["requests"], 6, "one probe, not a flood");
    at(&w, probe_at + Duration::seconds(59)).await;
    assert_eq!(provider.stats()["requests"], 6);
    // The provider is back: the next probe succeeds and everyone is sent, once.
    at(&w, probe_at + Duration::seconds(75)).await;
    let stats = provider.stats();
    assert_eq!(stats["accepted"], n, "{stats}");
    assert_eq!(stats["requests"], n + 6, "{stats}");
    assert_eq!(stats["duplicates"], 0, "{stats}");
    let attempts = all_attempts(&w, n).await;
    assert!(
        attempts
            .iter()
            .all(|a| matches!(a.state, AttemptState::Sent | AttemptState::Done)),
        "{attempts:?}"
    );
    assert!(w.engine.paused_channels().is_empty());
}

#[tokio::test]
async fn an_answer_lost_after_acceptance_is_retried_under_the_same_key_and_sent_once() {
    let port = free_port();
    let n = 4;
    // herald waits 1 s for an answer; the slow fault answers after 3 s.
    let w = world_configured(&[("test", CAMPAIGN)], &sms_at(port, 1), &people(n)).await;
    let provider = Provider::start(&w, port);
    provider.faults(
        r#"[{"fault": "malformed"}, {"fault": "accept_then_fail"}, {"fault": "slow", "delay_ms": 3000}]"#,
    );

    at(&w, nine()).await;
    assert_eq!(
        provider.stats()["accepted"],
        n,
        "the provider took all four"
    );
    let failed = all_attempts(&w, n)
        .await
        .iter()
        .filter(|a| a.state == AttemptState::Queued)
        .count();
    assert_eq!(failed, 3, "herald saw three of them fail");

    at(&w, nine() + Duration::minutes(2)).await;
    let stats = provider.stats();
    assert_eq!(stats["accepted"], n, "no second message: {stats}");
    assert_eq!(
        stats["duplicates"], 3,
        "each retry carried its key: {stats}"
    );
    for a in all_attempts(&w, n).await {
        assert!(
            matches!(a.state, AttemptState::Sent | AttemptState::Done),
            "{a:?}"
        );
        let requests = &provider.requests_by_key()[&a.idempotency_key];
        assert!(requests.as_u64().unwrap() <= 2, "{requests}");
        let sent = event_kinds(&w, &a)
            .await
            .iter()
            .filter(|k| *k == "sent")
            .count();
        assert_eq!(sent, 1, "one `sent` event per attempt");
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_once_the_provider_listens() {
    let port = free_port();
    let w = world_configured(&[("test", CAMPAIGN)], &sms_at(port, 5), &people(1)).await;

    at(&w, nine()).await;
    let a = &w.attempts("P0").await[0];
    assert_eq!(a.state, AttemptState::Queued);
    assert_eq!(a.reason.as_deref(), Some("provider_unavailable"));
    assert!(
        event_kinds(&w, a)
            .await
            .contains(&"send_failed".to_string())
    );

    let provider = Provider::start(&w, port);
    at(&w, a.not_before).await;
    let a = &w.attempts("P0").await[0];
    assert!(
        matches!(a.state, AttemptState::Sent | AttemptState::Done),
        "{a:?}"
    );
    assert_eq!(provider.stats()["accepted"], 1);
}

#[tokio::test]
async fn an_invalid_number_fails_the_attempt_and_no_campaign_tries_it_again() {
    let port = free_port();
    let w = world_configured(
        &[("first", CAMPAIGN), ("second", LATER)],
        &sms_at(port, 5),
        &people(2),
    )
    .await;
    let provider = Provider::start(&w, port);
    provider.faults(r#"[{"fault": "invalid_number"}]"#);

    at(&w, nine()).await;
    let mut first: Vec<Attempt> = all_attempts(&w, 2).await;
    first.sort_by_key(|a| a.id);
    let dead = first
        .iter()
        .find(|a| a.outcome == Some(Outcome::Failed))
        .expect("one attempt failed on the invalid number");
    assert_eq!(dead.state, AttemptState::Done);
    let contact = w
        .engine
        .store
        .contact_by_id(dead.contact_id)
        .await
        .unwrap()
        .unwrap();
    let suppressed = w
        .engine
        .store
        .suppressions_for(std::slice::from_ref(&contact))
        .await
        .unwrap();
    assert_eq!(suppressed.len(), 1, "{suppressed:?}");
    assert_eq!(suppressed[0].kind.as_str(), "bounce");
    assert!(
        suppressed[0].reason.starts_with("invalid number"),
        "{:?}",
        suppressed[0]
    );

    at(&w, nine() + Duration::hours(1)).await;
    let later: Vec<Attempt> = w
        .attempts(&contact.external_id)
        .await
        .into_iter()
        .filter(|a| a.campaign == "second")
        .collect();
    // The planner leaves the suppressed number out (or skips it at send time).
    assert!(
        later
            .iter()
            .all(|a| a.sent_at.is_none()
                && !provider.requests_by_key().contains_key(&a.idempotency_key)),
        "the suppressed number was not sent to again: {later:?}"
    );
    assert_eq!(provider.stats()["accepted"], 2, "the other person got both");
}
