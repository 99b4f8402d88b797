//! Crash safety: one campaign run through the HTTP provider (`herald provider-sim`, real
//! HTTP on loopback, signed callbacks back to the daemon's API), with the daemon killed by
//! SIGKILL two dozen times at different points (while planning, between sends, while
//! callbacks arrive) and restarted each time. In the end every planned attempt has exactly
//! one final state, the provider accepted each idempotency key once, and the event log
//! agrees with the attempts. The test waits for a separate process, so it polls the
//! database against a deadline; it never sleeps a fixed time to let work happen.

mod common;

use std::time::{Duration, Instant};

use common::{Workspace, free_port, http, scalar, spawn, start_provider_sim, stop};

const SECRET: &str = "crash-test-secret-shared-with-provider";
const PEOPLE: i64 = 250;
const KILLS: usize = 24;

fn workspace(api_port: u16, sim_port: u16) -> Workspace {
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("sms = \"08:00-21:00\"", "sms = \"00:00-24:00\"");
    ws.write(
        "herald.toml",
        &format!(
            "public_url = \"http://127.0.0.1:{api_port}\"\n{config}\n[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:{sim_port}\"\n[sim]\nsms_delivered = 1.0\nsms_reply = 0.3\nsms_opt_out = 0.0\ndelivery_delay = \"1s\"\nreply_delay = \"1s\"\n"
        ),
    );
    ws.sms_campaign_due_now("10/s");
    let mut csv = String::from("external_id,phone,balance\n");
    for i in 0..PEOPLE {
        csv.push_str(&format!("P{i},+4474002{i:05},10\n"));
    }
    ws.import_people(&csv);
    ws
}

/// Polls `sql` until it reaches `at_least` (or the deadline passes); returns its value.
async fn reach(ws: &Workspace, sql: &'static str, at_least: i64, deadline: Duration) -> i64 {
    let until = Instant::now() + deadline;
    loop {
        let n = scalar(ws, sql).await;
        if n >= at_least || Instant::now() >= until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (with a deadline) until the daemon with process id `pid` has registered.
async fn registered(ws: &Workspace, pid: u32, deadline: Duration) {
    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daemons WHERE pid = ?1")
            .bind(i64::from(pid))
            .fetch_one(store.pool())
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.pool().close().await;
}

const SENT: &str = "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL";
const APPLIED: &str = "SELECT COUNT(*) FROM inbox WHERE applied_at IS NOT NULL";
const ATTEMPTS: &str = "SELECT COUNT(*) FROM attempts";

#[tokio::test]
async fn two_dozen_sigkills_lose_nothing_and_send_nothing_twice() {
    let (api_port, sim_port) = (free_port(), free_port());
    let ws = workspace(api_port, sim_port);
    let provider = start_provider_sim(&ws, sim_port, api_port, SECRET);
    let env = [("HERALD_SECRET", SECRET)];

    let mut kill_points: Vec<(i64, i64, i64)> = Vec::new();
    for i in 0..KILLS {
        let daemon = spawn(&ws, &["run"], api_port, &env);
        // Where this one dies: as soon as it has registered (the first one: while
        // planning), after a few more sends, or after a few more callbacks are applied.
        match i % 3 {
            0 => registered(&ws, daemon.id(), Duration::from_secs(20)).await,
            1 => {
                let sent = scalar(&ws, SENT).await;
                reach(
                    &ws,
                    SENT,
                    sent + 1 + (i as i64 * 7) % 13,
                    Duration::from_secs(20),
                )
                .await;
            }
            _ => {
                let applied = scalar(&ws, APPLIED).await;
                reach(
                    &ws,
                    APPLIED,
                    applied + 1 + (i as i64 * 5) % 9,
                    Duration::from_secs(20),
                )
                .await;
            }
        }
        stop(daemon, "-KILL");
        kill_points.push((
            scalar(&ws, ATTEMPTS).await,
            scalar(&ws, SENT).await,
            scalar(&ws, APPLIED).await,
        ));
    }
    eprintln!("kill points (attempts, sent, applied): {kill_points:?}");
    let (_, sent_at_last_kill, _) = *kill_points.last().unwrap();
    assert!(
        sent_at_last_kill < PEOPLE,
        "every kill fell inside the run: {kill_points:?}"
    );
    let distinct: std::collections::BTreeSet<_> = kill_points.iter().collect();
    assert!(
        distinct.len() >= KILLS / 2,
        "the kills fell at different points: {kill_points:?}"
    );

    // A last daemon finishes the run.
    let daemon = spawn(&ws, &["run"], api_port, &env);
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let open = scalar(
            &ws,
            "SELECT COUNT(*) FROM attempts WHERE state IN ('queued', 'sending', 'sent')",
        )
        .await;
        let pending = scalar(&ws, "SELECT COUNT(*) FROM inbox WHERE applied_at IS NULL").await;
        let stats: serde_json::Value =
            serde_json::from_str(&http(sim_port, "GET", "/v1/stats", &[], b"").1).unwrap();
        let callbacks_done = stats["callbacks_sent"].as_u64().unwrap_or(0)
            + stats["callbacks_failed"].as_u64().unwrap_or(0);
        let finished = stats["accepted"].as_i64() == Some(PEOPLE)
            && callbacks_done == stats["callbacks_scheduled"].as_u64().unwrap_or(u64::MAX)
            && open == 0
            && pending == 0;
        if finished {
            break;
        }
        assert!(
            Instant::now() < until,
            "the run did not finish: {open} open attempts, {pending} events pending, {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = stop(daemon, "-TERM");
    assert!(
        out.status.success(),
        "the last daemon stops cleanly: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // Every planned attempt has exactly one final state.
    let store = herald::store::SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let states: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT state, outcome, reason, COUNT(*) FROM attempts GROUP BY 1, 2, 3 ORDER BY 4 DESC",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        scalar(&ws, ATTEMPTS).await,
        PEOPLE,
        "one attempt per person"
    );
    assert_eq!(
        scalar(
            &ws,
            "SELECT COUNT(*) FROM attempts WHERE state = 'done' AND sent_at IS NOT NULL"
        )
        .await,
        PEOPLE,
        "every attempt sent and closed: {states:?}"
    );
    // The provider accepted each key once, and only keys of planned attempts.
    let stats: serde_json::Value =
        serde_json::from_str(&http(sim_port, "GET", "/v1/stats", &[], b"").1).unwrap();
    assert_eq!(stats["accepted"], PEOPLE, "{stats}");
    assert_eq!(stats["callbacks_failed"], 0, "{stats}");
    let keys: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&http(sim_port, "GET", "/v1/keys", &[], b"").1).unwrap();
    assert_eq!(keys.len() as i64, PEOPLE);
    let planned: Vec<String> = sqlx::query_scalar("SELECT idempotency_key FROM attempts")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(planned.iter().all(|k| keys.contains_key(k)));
    // The event log agrees: one `sent` and one `delivered` per attempt, one event per
    // applied provider event, no event without its attempt.
    for (kind, sql) in [
        (
            "sent",
            "SELECT COUNT(DISTINCT attempt_id) FROM events WHERE kind = 'sent'",
        ),
        ("sent", "SELECT COUNT(*) FROM events WHERE kind = 'sent'"),
        (
            "delivered",
            "SELECT COUNT(DISTINCT attempt_id) FROM events WHERE kind = 'delivered'",
        ),
        (
            "delivered",
            "SELECT COUNT(*) FROM events WHERE kind = 'delivered'",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, PEOPLE, "{kind}: {sql}");
    }
    let replies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE kind = 'reply'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let replied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'replied'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(replies > 0, "some people replied");
    assert_eq!(replied, replies, "each reply recorded once");
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events e LEFT JOIN attempts a ON a.id = e.attempt_id WHERE a.id IS NULL",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    store.pool().close().await;
    let _ = stop(provider, "-INT");
}
