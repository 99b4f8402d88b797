//! Three `herald run` daemons on one PostgreSQL database, one campaign of 20,000 contacts
//! through the simulated SMS channel, and one daemon killed with SIGKILL mid-run: every
//! attempt is sent exactly once, the occurrence is planned once, nothing is lost, and the
//! killed daemon's claims are taken over by the others. Runs on a fresh database of the
//! server `HERALD_TEST_POSTGRES_URL` names (CI always sets it).
//!
//! The daemons are separate processes, so the test polls the database against a deadline;
//! it never sleeps a fixed time to let work happen.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::{Workspace, spawn, stop};
use sqlx::PgPool;

const CONTACTS: usize = 20_000;

/// (attempts, attempts sent, `sent` events, attempts still queued or sending).
async fn progress(pg: &PgPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM attempts), \
                (SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL), \
                (SELECT COUNT(*) FROM events WHERE kind = 'sent'), \
                (SELECT COUNT(*) FROM attempts WHERE state IN ('queued', 'sending'))",
    )
    .fetch_one(pg)
    .await
    .unwrap()
}

async fn wait_for(
    pg: &PgPool,
    what: &str,
    deadline: Duration,
    done: impl Fn((i64, i64, i64, i64)) -> bool,
) -> (i64, i64, i64, i64) {
    let until = Instant::now() + deadline;
    loop {
        let p = progress(pg).await;
        if done(p) {
            return p;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Attempts each daemon holds in `sending` now, by process id.
async fn holding(pg: &PgPool, pids: &[u32]) -> Vec<i64> {
    let mut out = Vec::new();
    for pid in pids {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM attempts WHERE state = 'sending' AND claimed_by LIKE $1",
        )
        .bind(format!("herald-%-{pid}-%"))
        .fetch_one(pg)
        .await
        .unwrap();
        out.push(n);
    }
    out
}

fn daemon(ws: &Workspace, url: &str) -> Child {
    spawn(
        ws,
        &["run"],
        common::free_port(),
        &[("HERALD_DATABASE_URL", url), ("HERALD_LOG", "herald=info")],
    )
}

#[tokio::test]
async fn three_daemons_send_every_attempt_once_though_one_is_killed_mid_run() {
    let Some(url) = herald::store::postgres::fresh_test_database().await else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let ws = Workspace::bare();
    let config = std::fs::read_to_string(ws.path("herald.toml"))
        .unwrap()
        .replace("sms = \"08:00-21:00\"", "sms = \"00:00-24:00\"");
    ws.write(
        "herald.toml",
        &format!(
            "{config}\n[sim]\nsms_delivered = 1.0\nsms_reply = 0.0\ndelivery_delay = \"1s\"\n"
        ),
    );
    // Due now, paced at 1,000 SMS a second: the dispatch lasts about 20 seconds.
    let once = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ");
    ws.write(
        "jobs/now.toml",
        &format!(
            "kind = \"reminder\"\n[audience]\nlists = [\"people\"]\n[schedule]\nonce = {once}\n\
             [rate_limits]\nsms = \"1000/s\"\n[[steps]]\nid = \"sms\"\nchannel = \"sms\"\ntemplate = \"payment_reminder\"\n"
        ),
    );
    let mut csv = String::from("external_id,phone,balance\n");
    for i in 0..CONTACTS {
        csv.push_str(&format!("P{i},+447400{i:06},10\n"));
    }
    ws.write("contacts.csv", &csv);
    let import = ws
        .command(&["contacts", "import", "contacts.csv", "--list", "people"])
        .env("HERALD_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let pg = PgPool::connect(&url).await.unwrap();

    let mut daemons: Vec<Option<Child>> = (0..3).map(|_| Some(daemon(&ws, &url))).collect();
    let pids: Vec<u32> = daemons.iter().flatten().map(Child::id).collect();

    // Mid-run, the daemon holding the most claimed attempts is killed.
    wait_for(&pg, "the first sends", Duration::from_secs(120), |p| {
        p.1 >= (CONTACTS / 5) as i64
    })
    .await;
    let until = Instant::now() + Duration::from_secs(30);
    let (victim, held_at_kill) = loop {
        let held = holding(&pg, &pids).await;
        let (i, n) = held
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)
            .map(|(i, n)| (i, *n))
            .unwrap();
        if n > 0 {
            break (i, n);
        }
        assert!(Instant::now() < until, "no daemon ever held a claim");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let killed_at = Instant::now();
    let out = stop(daemons[victim].take().unwrap(), "-KILL");
    assert!(!out.status.success());
    let at_kill = progress(&pg).await;
    assert_eq!(
        at_kill.0, CONTACTS as i64,
        "planning was complete before the kill"
    );
    assert!(
        at_kill.1 < CONTACTS as i64,
        "the kill came mid-run: {at_kill:?}"
    );

    // The others take over what it held, within the documented bound (15 s of silence,
    // then the next scheduler tick), and finish the run.
    let victim_pid = [pids[victim]];
    let until = Instant::now() + Duration::from_secs(60);
    while holding(&pg, &victim_pid).await[0] > 0 {
        assert!(
            Instant::now() < until,
            "the killed daemon's claims were not taken over within a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken_over = killed_at.elapsed();
    let done = wait_for(&pg, "every attempt sent", Duration::from_secs(240), |p| {
        p.1 == CONTACTS as i64 && p.3 == 0
    })
    .await;
    let takeover = killed_at.elapsed();
    eprintln!(
        "killed daemon {victim} holding {held_at_kill} claimed attempts at {at_kill:?}; \
         its claims were taken over {:.1} s later, the run finished {:.1} s later",
        taken_over.as_secs_f64(),
        takeover.as_secs_f64()
    );
    assert_eq!(
        done.0, CONTACTS as i64,
        "nothing planned twice, nothing lost"
    );
    assert_eq!(done.2, CONTACTS as i64, "one send recorded per attempt");
    let (distinct_sent, distinct_contacts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(DISTINCT attempt_id) FROM events WHERE kind = 'sent'), \
                (SELECT COUNT(DISTINCT contact_id) FROM attempts)",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(distinct_sent, CONTACTS as i64, "no attempt sent twice");
    assert_eq!(distinct_contacts, CONTACTS as i64);
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE campaign = 'now'")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(runs, 1, "the occurrence was planned once");
    let plan_tasks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'herald.plan'")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(plan_tasks, 1, "three daemons queued one plan task");
    // Every daemon did part of the work, the killed one included.
    let mut sent_by = Vec::new();
    for pid in &pids {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL AND claimed_by LIKE $1",
        )
        .bind(format!("herald-%-{pid}-%"))
        .fetch_one(&pg)
        .await
        .unwrap();
        sent_by.push(n);
    }
    eprintln!("attempts sent under each daemon's claim: {sent_by:?}");
    assert_eq!(sent_by.iter().sum::<i64>(), CONTACTS as i64, "{sent_by:?}");
    assert!(
        sent_by
            .iter()
            .enumerate()
            .all(|(i, n)| i == victim || *n > 0),
        "the survivors shared the work: {sent_by:?}"
    );

    for d in daemons.iter_mut() {
        if let Some(child) = d.take() {
            let out = stop(child, "-TERM");
            assert!(out.status.success(), "exit status {:?}", out.status);
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(log.contains("stopped"), "{log}");
            assert!(!log.contains("+447400"), "numbers are masked in logs");
        }
    }
    // Stopped daemons are forgotten, and so is the killed one: its process is gone and
    // the survivors run on the same host, so they knew it dead at once.
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM daemons")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(left, 0, "no daemon is still listed");

    // `herald jobs` reads the shared queue.
    let jobs = ws
        .command(&["jobs", "list", "--format", "json"])
        .env("HERALD_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        jobs.status.success(),
        "{}",
        String::from_utf8_lossy(&jobs.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&jobs.stdout).unwrap();
    assert!(
        counts
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["queue"] == "herald.plan" && c["status"] == "Done" && c["tasks"] == 1),
        "{counts:#}"
    );
    let done = ws
        .command(&[
            "jobs", "list", "--state", "done", "--limit", "5", "--format", "json",
        ])
        .env("HERALD_DATABASE_URL", &url)
        .output()
        .unwrap();
    let done: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(done.as_array().unwrap().len(), 5, "{done:#}");
}
