//! PostgreSQL through the binary: `migrate status|up` and `migrate copy` from an embedded
//! installation, on a fresh database of the server `HERALD_TEST_POSTGRES_URL` names (CI
//! always sets it; without it these tests say so and pass).

mod common;

use common::Workspace;

/// The tables `migrate copy` moves, each compared row for row by count and a checksum of
/// what matters in it.
const CHECKS: &[(&str, &str, &str)] = &[
    (
        "contacts",
        "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM contacts",
        "SELECT COUNT(*), COALESCE(SUM(id), 0)::bigint FROM contacts",
    ),
    (
        "tags",
        "SELECT COUNT(*), COALESCE(SUM(contact_id), 0) FROM contact_tags",
        "SELECT COUNT(*), COALESCE(SUM(contact_id), 0)::bigint FROM contact_tags",
    ),
    (
        "runs",
        "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM runs",
        "SELECT COUNT(*), COALESCE(SUM(id), 0)::bigint FROM runs",
    ),
    (
        "attempts",
        "SELECT COUNT(*), COALESCE(SUM(id * (CASE WHEN connected THEN 2 ELSE 1 END)), 0) FROM attempts",
        "SELECT COUNT(*), COALESCE(SUM(id * (CASE WHEN connected THEN 2 ELSE 1 END)), 0)::bigint FROM attempts",
    ),
    (
        "sent",
        "SELECT COUNT(*), 0 FROM attempts WHERE sent_at IS NOT NULL",
        "SELECT COUNT(*), 0::bigint FROM attempts WHERE sent_at IS NOT NULL",
    ),
    (
        "events",
        "SELECT COUNT(*), COALESCE(SUM(attempt_id), 0) FROM events",
        "SELECT COUNT(*), COALESCE(SUM(attempt_id), 0)::bigint FROM events",
    ),
    (
        "inbox",
        "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM inbox",
        "SELECT COUNT(*), COALESCE(SUM(id), 0)::bigint FROM inbox",
    ),
    (
        "suppressions",
        "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM suppressions",
        "SELECT COUNT(*), COALESCE(SUM(id), 0)::bigint FROM suppressions",
    ),
];

#[tokio::test]
async fn migrate_copy_moves_an_embedded_installation_to_postgres_with_its_history() {
    let Some(url) = herald::store::postgres::fresh_test_database().await else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    // An installation with history: the collections example run over a few moments.
    let ws = Workspace::init();
    let mut csv = String::from("external_id,first_name,phone,email,balance,debt_id\n");
    for i in 0..60 {
        csv.push_str(&format!(
            "C{i},Name{i},+4474005{i:05},c{i}@example.com,{},D{i}\n",
            50 + i * 30
        ));
    }
    ws.write("overdue.csv", &csv);
    ws.herald(&["contacts", "import", "overdue.csv", "--list", "overdue"])
        .ok();
    ws.herald(&["tags", "add", "C1", "vip"]).ok();
    ws.herald(&[
        "dnc",
        "add",
        "--phone",
        "+447400500002",
        "--reason",
        "asked by phone",
    ])
    .ok();
    for at in [
        "2026-12-01T09:00:00Z",
        "2026-12-01T12:00:00Z",
        "2026-12-03T10:00:00Z",
    ] {
        ws.herald_at(at, &["run", "--until-idle"]).ok();
    }
    let source = format!("sqlite://{}", ws.path("herald.db").display());

    let copy = ws.herald(&["migrate", "copy", "--from", &source, "--to", &url]);
    assert_eq!(copy.code, 0, "{}\n{}", copy.stdout, copy.stderr);
    assert!(copy.stdout.contains("copied"), "{}", copy.stdout);

    let sqlite = herald::store::SqliteStore::open(&source, false)
        .await
        .unwrap();
    let pg = sqlx::PgPool::connect(&url).await.unwrap();
    for (what, on_sqlite, on_pg) in CHECKS {
        let a: (i64, i64) = sqlx::query_as(*on_sqlite)
            .fetch_one(sqlite.pool())
            .await
            .unwrap();
        let b: (i64, i64) = sqlx::query_as(*on_pg).fetch_one(&pg).await.unwrap();
        assert_eq!(a, b, "{what}");
        if *what == "attempts" {
            assert!(a.0 > 60, "the installation has history: {a:?}");
        }
    }
    // Times survive to the second, JSON stays JSON.
    let latest: String = sqlx::query_scalar(
        "SELECT to_char(MAX(sent_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM attempts",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    let latest_sqlite: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT sent_at FROM attempts WHERE sent_at IS NOT NULL ORDER BY sent_at DESC LIMIT 1",
    )
    .fetch_one(sqlite.pool())
    .await
    .unwrap();
    assert_eq!(
        latest,
        latest_sqlite.format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    let balance: f64 = sqlx::query_scalar(
        "SELECT (attributes->>'balance')::float8 FROM contacts WHERE external_id = 'C3'",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(balance, 140.0);
    // New rows continue after the copied ids.
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO contact_lists (name, created_at) VALUES ('new', now()) RETURNING id",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    let max_before: i64 =
        sqlx::query_scalar("SELECT MAX(id) FROM contact_lists WHERE name <> 'new'")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert!(next > max_before);

    // A second copy into the filled database is refused and changes nothing.
    let again = ws.herald(&["migrate", "copy", "--from", &source, "--to", &url]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already holds"), "{}", again.stderr);
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(contacts, 60);
}

#[test]
fn migrate_status_lists_each_migration_and_whether_it_is_applied() {
    let ws = Workspace::empty();
    ws.write("herald.toml", "");
    let before = ws.herald(&["migrate", "status", "--format", "json"]);
    // A database that does not exist yet is created empty: every migration pending.
    assert_eq!(before.code, 0, "{}", before.stderr);
    let rows = before.json();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 4);
    assert!(rows.iter().all(|r| r["applied_at"].is_null()), "{rows:?}");
    ws.herald(&["migrate", "up"]).ok();
    let after = ws
        .herald(&["migrate", "status", "--format", "json"])
        .ok()
        .json();
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["applied_at"].is_string()),
        "{after}"
    );
}

/// `herald` in `ws` against the PostgreSQL database `url`, with the clock at `now`.
fn on_pg(ws: &Workspace, url: &str, now: &str, args: &[&str]) -> common::Run {
    ws.command(args)
        .env("HERALD_DATABASE_URL", url)
        .env("HERALD_NOW", now)
        .output()
        .expect("run herald")
        .into()
}

#[tokio::test]
async fn a_campaign_runs_on_postgres_from_import_to_report_and_export() {
    let Some(url) = herald::store::postgres::fresh_test_database().await else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let ws = Workspace::init();
    let mut csv = String::from("external_id,first_name,phone,email,balance,debt_id\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "P{i},Name{i},+4474006{i:05},p{i}@example.com,{},D{i}\n",
            100 + i
        ));
    }
    ws.write("overdue.csv", &csv);
    let now = "2026-12-01T09:00:00Z";
    let import = on_pg(
        &ws,
        &url,
        now,
        &["contacts", "import", "overdue.csv", "--list", "overdue"],
    );
    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
    let plan = on_pg(
        &ws,
        &url,
        now,
        &[
            "plan",
            "collections_reminder",
            "--dry-run",
            "--at",
            now,
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(plan["considered"], 40, "{plan}");
    let run = on_pg(&ws, &url, now, &["run", "--until-idle", "--format", "json"])
        .ok()
        .json();
    let sent = run["sent"].as_i64().unwrap();
    assert!(sent > 0, "{run}");
    // The same moment again plans and sends nothing more: the run is unique per occurrence.
    let again = on_pg(&ws, &url, now, &["run", "--until-idle", "--format", "json"])
        .ok()
        .json();
    assert_eq!(again["runs_planned"], 0, "{again}");
    assert_eq!(again["sent"], 0, "{again}");
    let later = on_pg(&ws, &url, "2026-12-01T10:00:00Z", &["run", "--until-idle"]);
    assert_eq!(later.code, 0, "{}", later.stderr);

    let pg = sqlx::PgPool::connect(&url).await.unwrap();
    let (attempts, distinct_keys): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM attempts WHERE sent_at IS NOT NULL",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(attempts, distinct_keys);
    assert!(attempts >= sent);

    let report = on_pg(
        &ws,
        &url,
        "2026-12-01T10:00:00Z",
        &["report", "collections_reminder", "--format", "json"],
    )
    .ok()
    .json();
    let attempted: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT (run_id, contact_id)) FROM attempts WHERE sent_at IS NOT NULL",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(
        report["funnel"]["attempted"].as_i64(),
        Some(attempted),
        "{report}"
    );
    let export = on_pg(
        &ws,
        &url,
        now,
        &[
            "export",
            "attempts",
            "--campaign",
            "collections_reminder",
            "--format",
            "csv",
        ],
    )
    .ok();
    assert_eq!(
        export.stdout.lines().count() as i64 - 1,
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM attempts")
            .fetch_one(&pg)
            .await
            .unwrap()
    );
    let doctor = on_pg(&ws, &url, now, &["doctor"]);
    assert!(doctor.stdout.contains("postgres"), "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("hstore"),
        "the extension the queue needs is checked: {}",
        doctor.stdout
    );
    assert!(
        doctor.stdout.contains("daemons") && doctor.stdout.contains("none running"),
        "{}",
        doctor.stdout
    );
}
