//! `herald run` as a real process on a real SQLite file: it sends every planned attempt
//! once, stops gracefully on SIGTERM, and after a SIGKILL mid-dispatch a restart loses
//! nothing and sends nothing twice. These tests wait for a separate process, so they poll
//! the database with a deadline; they never sleep a fixed time to let work happen.

mod common;

use std::time::{Duration, Instant};

use common::{CONTACTS, Workspace, start, stop};
use herald::store::SqliteStore;

/// (attempts sent, `sent` events, attempts in all) for the run of campaign `now`.
async fn progress(ws: &Workspace) -> (i64, i64, i64) {
    let store = SqliteStore::open(
        &format!("sqlite://{}", ws.path("herald.db").display()),
        false,
    )
    .await
    .unwrap();
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'sent'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attempts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.pool().close().await;
    (sent, events, all)
}

async fn wait_for(
    ws: &Workspace,
    what: &str,
    deadline: Duration,
    done: impl Fn((i64, i64, i64)) -> bool,
) -> (i64, i64, i64) {
    let until = Instant::now() + deadline;
    loop {
        let p = progress(ws).await;
        if done(p) {
            return p;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_daemon_sends_every_planned_attempt_once_and_stops_on_sigterm() {
    let ws = Workspace::due_now("100/s");
    let daemon = start(&ws, common::free_port());
    let p = wait_for(
        &ws,
        "every attempt sent",
        Duration::from_secs(30),
        |(sent, _, all)| all == CONTACTS as i64 && sent == all,
    )
    .await;
    assert_eq!(p, (CONTACTS as i64, CONTACTS as i64, CONTACTS as i64));
    let out = stop(daemon, "-TERM");
    assert!(out.status.success(), "exit status {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.contains("7400100001") && !log.contains("+447400"),
        "numbers are masked in logs"
    );
    let runs = ws.herald(&["runs", "list", "--format", "json"]).ok().json();
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the occurrence was planned once: {runs:#}"
    );
}

#[tokio::test]
async fn a_daemon_killed_mid_dispatch_loses_nothing_and_sends_nothing_twice() {
    // 40 SMS at 4 a second: the dispatch lasts about 10 seconds.
    let ws = Workspace::due_now("4/s");
    let daemon = start(&ws, common::free_port());
    wait_for(
        &ws,
        "the first sends",
        Duration::from_secs(30),
        |(sent, _, _)| sent >= 5,
    )
    .await;
    stop(daemon, "-KILL");
    let (sent_at_kill, _, all) = progress(&ws).await;
    assert_eq!(
        all, CONTACTS as i64,
        "planning was complete before the kill"
    );
    assert!(sent_at_kill < CONTACTS as i64, "the kill came mid-dispatch");
    let restarted = start(&ws, common::free_port());
    let p = wait_for(
        &ws,
        "every attempt sent after the restart",
        Duration::from_secs(60),
        |(sent, _, all)| sent == all,
    )
    .await;
    assert_eq!(p.0, CONTACTS as i64, "nothing lost");
    assert_eq!(
        p.1, CONTACTS as i64,
        "one send recorded per attempt, none twice"
    );
    let out = stop(restarted, "-TERM");
    assert!(out.status.success());
    let runs = ws.herald(&["runs", "list", "--format", "json"]).ok().json();
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the restart did not plan the occurrence again: {runs:#}"
    );
}
