//! `herald bench` at a small size, so the benchmark never rots: every phase runs, checks
//! its own result and reports a rate, on SQLite and (when `HERALD_TEST_POSTGRES_URL` is
//! set, as in CI) on PostgreSQL. The figures themselves are not asserted: speed is
//! measured by the full run (`bash benches/run.sh`), not by tests.

mod common;

use common::Workspace;

const CONTACTS: &str = "10000";

const PHASES: &[&str] = &[
    "raw_insert",
    "raw_claim_complete_1",
    "import",
    "plan",
    "dispatch",
    "export_csv",
    "export_parquet",
    "peer_apalis_push",
    "peer_apalis_process",
];

fn bench(ws: &Workspace, db: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench",
        "--contacts",
        CONTACTS,
        "--repetitions",
        "1",
        "--db",
        db,
        "--json",
        "bench.json",
        "--markdown",
        "bench.md",
        "--peer-tasks",
        "1000",
    ];
    args.extend_from_slice(extra);
    let out = ws.command(&args).output().expect("run herald bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| dispatch |"), "{stdout}");
    let md = std::fs::read_to_string(ws.path("bench.md")).unwrap();
    assert_eq!(md, stdout, "the Markdown file holds the printed tables");
    serde_json::from_str(&std::fs::read_to_string(ws.path("bench.json")).unwrap()).unwrap()
}

fn check_report(report: &serde_json::Value, db: &str) {
    assert_eq!(report["db"], db);
    assert_eq!(report["contacts"], 10_000);
    let phases = report["phases"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for phase in PHASES {
        assert!(names.contains(phase), "{phase} missing from {names:?}");
    }
    for p in phases {
        assert!(p["rate"].as_f64().unwrap() > 0.0, "{p}");
        assert_eq!(p["seconds"].as_array().unwrap().len(), 1, "{p}");
        if cfg!(target_os = "linux") {
            assert!(p["peak_rss_mib"].as_f64().unwrap() > 1.0, "{p}");
        }
    }
    // Every attempt sent and every event exported, or the bench would have failed.
    let count = |name: &str| {
        phases.iter().find(|p| p["name"] == name).unwrap()["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("dispatch"), 10_000);
    assert_eq!(count("export_csv"), count("export_parquet"));
    assert!(
        count("export_csv") >= 20_000,
        "a sent and a delivered event each"
    );
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["what"] == "dispatch / one apalis task per attempt"),
        "{checks:?}"
    );
}

#[test]
fn a_small_bench_runs_every_phase_on_sqlite() {
    let ws = Workspace::empty();
    let reports = bench(&ws, "sqlite", &[]);
    assert_eq!(reports.as_array().unwrap().len(), 1);
    check_report(&reports[0], "sqlite");
}

#[test]
fn a_small_bench_runs_every_phase_on_postgres() {
    let Ok(url) = std::env::var("HERALD_TEST_POSTGRES_URL") else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let ws = Workspace::empty();
    let reports = bench(&ws, "postgres", &["--postgres-url", &url]);
    let report = &reports[0];
    check_report(report, "postgres");
    let names: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"raw_claim_complete_4"), "{names:?}");
}

#[test]
fn a_bench_without_a_server_for_postgres_says_what_is_missing() {
    let ws = Workspace::empty();
    let out = ws
        .command(&["bench", "--db", "postgres"])
        .env_remove("HERALD_BENCH_POSTGRES_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--postgres-url"), "{err}");
}
