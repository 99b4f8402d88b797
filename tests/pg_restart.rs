//! The PostgreSQL server restarted under a running daemon: the daemon keeps running,
//! reconnects, and finishes the campaign with every attempt sent exactly once.
//!
//! The test restarts the server named by `HERALD_TEST_POSTGRES_URL` (the local cluster on
//! its port, found with `pg_lsclusters`) with `pg_ctlcluster` (Debian's server tools;
//! `.ci/run` runs as root, which may use them). It is alone in
//! its test binary, so no other test of this binary sees the restart; `cargo test` runs
//! test binaries one after another. Where the server cannot be restarted from here (not
//! root, not Debian's packaging), it says so and passes without checking.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Workspace, spawn, stop};
use sqlx::PgPool;

const CONTACTS: usize = 200;

/// Restarts the local cluster listening on `url`'s port (`pg_lsclusters`); false when
/// this machine cannot.
fn restart_server(url: &str) -> bool {
    let port = url
        .rsplit('@')
        .next()
        .and_then(|host| host.split('/').next())
        .and_then(|host| host.rsplit(':').next())
        .unwrap_or("5432")
        .to_string();
    let Ok(list) = Command::new("pg_lsclusters").arg("-h").output() else {
        return false;
    };
    let list = String::from_utf8_lossy(&list.stdout);
    let Some((version, name)) = list.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 2 && f[2] == port).then(|| (f[0].to_string(), f[1].to_string()))
    }) else {
        return false;
    };
    Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            &version,
            &name,
            "restart",
            "-m",
            "fast",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

async fn count(url: &str, sql: &'static str) -> Option<i64> {
    let pg = PgPool::connect(url).await.ok()?;
    let n = sqlx::query_scalar(sql).fetch_one(&pg).await.ok();
    pg.close().await;
    n
}

#[tokio::test]
async fn a_daemon_carries_on_after_the_database_server_restarts() {
    let Some(url) = herald::store::postgres::fresh_test_database().await else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    if unsafe { libc::geteuid() } != 0
        || Command::new("pg_ctlcluster")
            .arg("--help")
            .output()
            .is_err()
    {
        eprintln!(
            "this user cannot restart the PostgreSQL server (root and pg_ctlcluster needed): skipped"
        );
        return;
    }
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
    // Due now, 20 SMS a second: the dispatch lasts about 10 seconds.
    ws.sms_campaign_due_now("20/s");
    let mut csv = String::from("external_id,phone,balance\n");
    for i in 0..CONTACTS {
        csv.push_str(&format!("R{i},+4474006{i:05},10\n"));
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

    let mut daemon = spawn(
        &ws,
        &["run"],
        common::free_port(),
        &[("HERALD_DATABASE_URL", &url), ("HERALD_LOG", "herald=info")],
    );
    let sent = "SELECT COUNT(*) FROM attempts WHERE sent_at IS NOT NULL";
    let until = Instant::now() + Duration::from_secs(60);
    while count(&url, sent).await.unwrap_or(0) < 20 {
        assert!(Instant::now() < until, "no sends before the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(restart_server(&url), "pg_ctlcluster restart failed");
    let before: i64 = count(&url, sent).await.unwrap_or(0);
    assert!(before < CONTACTS as i64, "the restart came mid-run");

    let until = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "the daemon exited after the restart"
        );
        if count(&url, sent).await == Some(CONTACTS as i64)
            && count(
                &url,
                "SELECT COUNT(*) FROM attempts WHERE state IN ('queued', 'sending')",
            )
            .await
                == Some(0)
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "the daemon did not finish after the restart: {:?} sent",
            count(&url, sent).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM events WHERE kind = 'sent'").await,
        Some(CONTACTS as i64),
        "each attempt sent once"
    );
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM attempts").await,
        Some(CONTACTS as i64)
    );
    let out = stop(daemon, "-TERM");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
