//! `herald bench`: herald's cost next to what the database itself can do, measured in the
//! same run on the same database.
//!
//! Each repetition starts from a fresh database (a new SQLite file, or a new PostgreSQL
//! database on the server given) and runs, in order:
//! - the raw limits ([`raw`]): a bulk insert of N rows shaped like attempts, and a
//!   claim-and-complete loop over them (one writer on SQLite; 1 and 4 workers with
//!   `SKIP LOCKED` on PostgreSQL);
//! - herald: the CSV import of N contacts, the planning of one campaign over them (policy,
//!   windows and routing included), the dispatch of every attempt through the simulated
//!   SMS channel with no latency until idle (each send and its delivery report applied;
//!   as a daemon runs it, with four dispatch workers on PostgreSQL and one on SQLite),
//!   and the export of the resulting events to CSV and to Parquet;
//! - the peer a user would otherwise write ([`peer`]): the same dispatch as one apalis task
//!   per attempt with a no-op handler (on a queue of at most [`PEER_TASKS_MAX`] tasks by
//!   default).
//!
//! Every figure is the median over the repetitions; peak resident memory is read per phase
//! (the kernel's high-water mark, reset before each phase, on Linux). Each phase checks its
//! own result (every contact imported, every attempt sent, every event exported), so a
//! fast wrong answer is an error, not a figure.

pub mod error;
pub mod peer;
pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

pub use error::BenchError;

use crate::catalog::{Catalog, Known};
use crate::clock::VirtualClock;
use crate::config::{Overrides, Settings};
use crate::engine::{BATCH, Engine, EngineError, Scope, Work};
use crate::export::{self, Filter, Format, Table};
use crate::import::{ContactImport, import_contacts};
use crate::store::{AnyStore, Store};

/// The apalis peer runs at most this many tasks unless told otherwise. Its rate falls as
/// its queue grows (on SQLite each acknowledgement reads every task its worker ever held:
/// about 950 tasks/s at 3,000 tasks, 150/s at 20,000), so a million would take hours; the
/// peer measured on a shorter queue than herald's is favoured by the comparison, not
/// penalised.
pub const PEER_TASKS_MAX: u64 = 5_000;

/// Which database a bench runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchDb {
    Sqlite,
    /// A server: each repetition creates (and drops) its own database on it.
    Postgres {
        url: String,
    },
}

impl BenchDb {
    pub fn name(&self) -> &'static str {
        match self {
            BenchDb::Sqlite => "sqlite",
            BenchDb::Postgres { .. } => "postgres",
        }
    }
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub contacts: u64,
    pub repetitions: usize,
    pub db: BenchDb,
    /// Where scratch files go (a temporary folder when `None`).
    pub scratch: Option<PathBuf>,
    /// Tasks the apalis peer runs (at most `contacts`).
    pub peer_tasks: u64,
}

/// One phase's figures over the repetitions.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub name: String,
    /// What is counted: `rows`, `contacts`, `attempts`, `tasks`.
    pub unit: &'static str,
    pub count: u64,
    /// Seconds of each repetition.
    pub seconds: Vec<f64>,
    /// `count` per second, median over the repetitions.
    pub rate: f64,
    /// The highest resident memory reached during the phase, in MiB (Linux only).
    pub peak_rss_mib: Option<f64>,
}

/// A target of the benchmark: a ratio between two phases, or an absolute figure.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub value: f64,
    pub target: f64,
    pub met: bool,
}

/// The result of one bench on one database.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub db: &'static str,
    pub server: String,
    pub contacts: u64,
    pub repetitions: usize,
    pub cores: usize,
    pub started_at: DateTime<Utc>,
    pub phases: Vec<Phase>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// The occurrence the bench campaign is planned at: a Tuesday noon, inside any window.
fn occurrence() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

const CAMPAIGN: &str = "\
kind = \"reminder\"
description = \"herald bench: one SMS to everyone\"
[audience]
lists = [\"people\"]
[schedule]
once = 2026-12-01T12:00:00Z
[rate_limits]
sms = \"1000000/s\"
[[steps]]
id = \"sms\"
channel = \"sms\"
template = \"payment_reminder\"
";

/// Timings of one repetition, by phase.
type Timings = Vec<(&'static str, &'static str, u64, Duration, Option<f64>)>;

/// Runs the bench: `on_phase` hears each phase as it ends (repetition, phase, seconds).
pub async fn run(
    options: &BenchOptions,
    mut on_phase: impl FnMut(usize, &str, f64),
) -> Result<Report, BenchError> {
    if options.contacts == 0 || options.repetitions == 0 {
        return Err(BenchError::Setup(
            "give at least one contact and one repetition".into(),
        ));
    }
    let tmp;
    let scratch = match &options.scratch {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(|e| BenchError::Setup(e.to_string()))?;
            tmp.path().to_path_buf()
        }
    };
    let workspace = Workspace::new(&scratch, options.contacts)?;
    let started_at = Utc::now();
    let mut runs: Vec<Timings> = Vec::new();
    let mut server = String::new();
    for rep in 0..options.repetitions {
        let (url, cleanup) = fresh_database(&options.db, &scratch, rep).await?;
        let result = repetition(&workspace, &url, options, rep, &mut on_phase).await;
        cleanup.run().await;
        let (timings, version) = result?;
        server = version;
        runs.push(timings);
    }
    let phases = summarise(&runs);
    let checks = checks(&options.db, &phases, options.contacts);
    Ok(Report {
        db: options.db.name(),
        server,
        contacts: options.contacts,
        repetitions: options.repetitions,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        started_at,
        phases,
        checks,
    })
}

/// The files every repetition shares: the configuration, templates, the campaign and the
/// contacts' CSV (written once, not timed).
struct Workspace {
    dir: PathBuf,
    csv: PathBuf,
}

impl Workspace {
    fn new(scratch: &Path, contacts: u64) -> Result<Workspace, BenchError> {
        let dir = scratch.join("workspace");
        let io = |e: std::io::Error| BenchError::Setup(format!("writing the workspace: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        crate::examples::write_all(&dir, true).map_err(io)?;
        for (path, _) in crate::examples::FILES {
            if path.starts_with("jobs/") {
                std::fs::remove_file(dir.join(path)).map_err(io)?;
            }
        }
        std::fs::write(dir.join("jobs/bench.toml"), CAMPAIGN).map_err(io)?;
        let csv = dir.join("contacts.csv");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).map_err(io)?);
        use std::io::Write as _;
        writeln!(out, "external_id,first_name,phone,balance").map_err(io)?;
        for i in 0..contacts {
            writeln!(out, "B{i},Name{},+4474{:08},{}", i % 97, i, 10 + i % 500).map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok(Workspace { dir, csv })
    }

    /// The settings for a database: SMS allowed at any hour, the simulated provider
    /// delivering every SMS at once and never replying.
    fn settings(&self, url: &str) -> Result<Settings, BenchError> {
        let config = std::fs::read_to_string(self.dir.join("herald.toml"))
            .map_err(|e| BenchError::Setup(e.to_string()))?
            .replace("sms = \"08:00-21:00\"", "sms = \"00:00-24:00\"");
        let config = format!(
            "{config}\n[sim]\nsms_delivered = 1.0\nsms_reply = 0.0\ndelivery_delay = \"0s\"\n"
        );
        let path = self.dir.join("bench.toml");
        std::fs::write(&path, config).map_err(|e| BenchError::Setup(e.to_string()))?;
        Settings::load(&Overrides {
            config: Some(path),
            database_url: Some(url.to_string()),
        })
        .map_err(|e| BenchError::Setup(format!("{e:?}")))
    }
}

/// How a repetition's database goes away.
enum Cleanup {
    File(PathBuf),
    Database { admin: String, name: String },
}

impl Cleanup {
    async fn run(self) {
        match self {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Database { admin, name } => {
                let _ = crate::store::postgres::drop_database(&admin, &name).await;
            }
        }
    }
}

async fn fresh_database(
    db: &BenchDb,
    scratch: &Path,
    rep: usize,
) -> Result<(String, Cleanup), BenchError> {
    match db {
        BenchDb::Sqlite => {
            let path = scratch.join(format!("bench-{rep}.db"));
            Cleanup::File(path.clone()).run().await;
            Ok((format!("sqlite://{}", path.display()), Cleanup::File(path)))
        }
        BenchDb::Postgres { url } => {
            let name = format!("herald_bench_{}_{rep}", std::process::id());
            let fresh = crate::store::postgres::create_database(url, &name)
                .await
                .map_err(|e| {
                    BenchError::Setup(format!(
                        "creating the bench database on {}: {e}",
                        crate::config::redact_url(url)
                    ))
                })?;
            Ok((
                fresh,
                Cleanup::Database {
                    admin: url.clone(),
                    name,
                },
            ))
        }
    }
}

/// The kernel's record of this process's peak resident memory is reset, so the next
/// reading is the peak of what runs in between (Linux; elsewhere nothing is read).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Times `f`, with the memory peak of what it does.
async fn timed<T, F: std::future::Future<Output = Result<T, BenchError>>>(
    f: F,
) -> Result<(T, Duration, Option<f64>), BenchError> {
    reset_peak();
    let started = Instant::now();
    let out = f.await?;
    Ok((out, started.elapsed(), peak_rss_mib()))
}

/// One repetition on a fresh database: (timings, server version).
async fn repetition(
    ws: &Workspace,
    url: &str,
    options: &BenchOptions,
    rep: usize,
    on_phase: &mut impl FnMut(usize, &str, f64),
) -> Result<(Timings, String), BenchError> {
    let n = options.contacts;
    let mut out: Timings = Vec::new();
    let mut record = |out: &mut Timings, name, unit, count, d: Duration, peak| {
        on_phase(rep, name, d.as_secs_f64());
        out.push((name, unit, count, d, peak));
    };
    let settings = ws.settings(url)?;
    let store = AnyStore::open(url, true).await?;
    store.migrate().await?;
    let version = store
        .server_version()
        .await
        .map(|v| v.text)
        .unwrap_or_default();

    // The raw limits.
    let ((), d, peak) = timed(async { raw::bulk_insert(&store, n).await.map(|_| ()) }).await?;
    record(&mut out, "raw_insert", "rows", n, d, peak);
    // SQLite has one writer: its raw loop runs with one worker.
    let workers: &[usize] = if store.single_writer() { &[1] } else { &[1, 4] };
    for &w in workers {
        let ((), d, peak) =
            timed(async { raw::claim_and_complete(&store, w, 100).await.map(|_| ()) }).await?;
        let name = if w == 1 {
            "raw_claim_complete_1"
        } else {
            "raw_claim_complete_4"
        };
        record(&mut out, name, "rows", n, d, peak);
    }
    raw::drop_scratch(&store).await?;

    // herald: import, plan, dispatch, export.
    let now = occurrence();
    let import = ContactImport {
        list: Some("people".into()),
        default_region: Some("GB".into()),
        attributes: settings.attributes.clone(),
    };
    let (report, d, peak) = timed(async {
        let file = std::fs::File::open(&ws.csv).map_err(|e| BenchError::Setup(e.to_string()))?;
        let mut rejected = 0u64;
        let report = import_contacts(
            &store,
            std::io::BufReader::with_capacity(1 << 16, file),
            &import,
            now,
            |_| rejected += 1,
            |_| {},
        )
        .await
        .map_err(|e| BenchError::Herald(format!("import: {e}")))?;
        Ok(report)
    })
    .await?;
    if report.written.inserted != n {
        return Err(BenchError::Wrong(format!(
            "import wrote {} of {n} contacts",
            report.written.inserted
        )));
    }
    record(&mut out, "import", "contacts", n, d, peak);

    let known = Known {
        attributes: store.attribute_keys().await?,
        tags: store.tag_names().await?,
    };
    let catalog = Catalog::load(std::slice::from_ref(&settings.jobs_dir), &settings, &known);
    if catalog.errors() > 0 {
        return Err(BenchError::Setup(format!(
            "the bench campaign does not load: {:?}",
            catalog.diagnostics
        )));
    }
    let clock = VirtualClock::new(now);
    let workers = dispatch_workers(&store);
    let engine = Arc::new(Engine::simulated(
        store,
        catalog,
        settings,
        Arc::new(clock.clone()),
        Scope::All,
    ));
    let (planned, d, peak) = timed(async {
        let run = engine
            .plan_occurrence("bench", now, now)
            .await
            .map_err(|e| BenchError::Herald(format!("planning: {e}")))?;
        let run = run.ok_or_else(|| BenchError::Wrong("the run was planned already".into()))?;
        Ok(engine
            .store
            .run_tally(run)
            .await?
            .iter()
            .map(|r| r.attempts as u64)
            .sum::<u64>())
    })
    .await?;
    if planned != n {
        return Err(BenchError::Wrong(format!(
            "planned {planned} of {n} attempts"
        )));
    }
    record(&mut out, "plan", "contacts", n, d, peak);

    // Every attempt is due within a second of the occurrence; the clock stands a minute on.
    clock.set(now + chrono::Duration::minutes(1));
    let (work, d, peak) = timed(async {
        dispatch_like_a_daemon(&engine, workers)
            .await
            .map_err(|e| BenchError::Herald(format!("dispatch: {e}")))
    })
    .await?;
    if work.sent as u64 != n {
        return Err(BenchError::Wrong(format!(
            "dispatch sent {} of {n} attempts ({work:?})",
            work.sent
        )));
    }
    record(&mut out, "dispatch", "attempts", n, d, peak);

    let events = engine.store.count_events().await? as u64;
    for (name, format, file) in [
        ("export_csv", Format::Csv, "events.csv"),
        ("export_parquet", Format::Parquet, "events.parquet"),
    ] {
        let path = ws.dir.join(file);
        let (rows, d, peak) = timed(export_events(&engine.store, format, &path, now)).await?;
        if rows != events {
            return Err(BenchError::Wrong(format!(
                "{name} wrote {rows} of {events} events"
            )));
        }
        let _ = std::fs::remove_file(&path);
        record(&mut out, name, "rows", rows, d, peak);
    }

    // The peer: one apalis task per attempt, on the same database.
    let store = &engine.store;
    let tasks = n.min(options.peer_tasks).max(1);
    let (run, _, peak) = timed(peer::apalis_one_task_per_attempt(store, tasks)).await?;
    record(&mut out, "peer_apalis_push", "tasks", tasks, run.push, peak);
    record(
        &mut out,
        "peer_apalis_process",
        "tasks",
        tasks,
        run.process,
        peak,
    );
    store.close().await;
    Ok((out, version))
}

/// Dispatch workers in the dispatch phase: on PostgreSQL as many as a daemon runs (its
/// queue's default concurrency), as the best raw loop there has four workers; on SQLite one,
/// as SQLite has one writer and its raw loop one worker.
fn dispatch_workers(store: &AnyStore) -> usize {
    if store.single_writer() {
        1
    } else {
        crate::queue::DISPATCH_CONCURRENCY
    }
}

/// Sends every due attempt as a daemon does, without its queue in between: `workers` tasks
/// each claim a batch and send it, over and over, while this one applies the provider
/// events (the delivery reports) as they arrive; then the engine's own loop finishes what
/// is left (the last events, the finished run).
async fn dispatch_like_a_daemon(
    engine: &Arc<Engine<AnyStore>>,
    workers: usize,
) -> Result<Work, EngineError> {
    let now = engine.now();
    let sent = Arc::new(tokio::sync::Notify::new());
    let mut dispatchers = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (engine, sent) = (engine.clone(), sent.clone());
        dispatchers.spawn(async move {
            let mut total = Work::default();
            loop {
                let work = engine.dispatch_due(now, BATCH).await?;
                sent.notify_one();
                if !work.any() {
                    return Ok::<_, EngineError>(total);
                }
                total += work;
            }
        });
    }
    let mut total = Work::default();
    let mut done = 0;
    while done < workers {
        let applied = engine.apply_inbox(now, BATCH).await?;
        total.events_applied += applied;
        if applied > 0 {
            continue;
        }
        tokio::select! {
            ended = dispatchers.join_next() => {
                match ended.expect("a dispatcher is still running") {
                    Ok(work) => total += work?,
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
                done += 1;
            }
            () = sent.notified() => {}
        }
    }
    total += engine.run_until_idle().await?;
    Ok(total)
}

async fn export_events(
    store: &AnyStore,
    format: Format,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<u64, BenchError> {
    let columns = Table::Events.columns();
    let file = std::fs::File::create(path).map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut sink = export::sink(
        format,
        columns,
        std::io::BufWriter::with_capacity(1 << 20, file),
    )
    .map_err(|e| BenchError::Herald(e.to_string()))?;
    let filter = Filter {
        campaign: None,
        since: None,
        until: None,
        now,
    };
    let rows = store
        .export_rows(Table::Events, &filter, &mut |row| Ok(sink.write_row(row)?))
        .await?;
    sink.finish()
        .map_err(|e| BenchError::Herald(e.to_string()))?;
    Ok(rows)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Phases in the order they ran, each with its median rate and highest peak.
fn summarise(runs: &[Timings]) -> Vec<Phase> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|(name, unit, count, _, _)| {
            let of_phase = runs.iter().filter_map(|r| r.iter().find(|p| p.0 == *name));
            let seconds: Vec<f64> = of_phase.clone().map(|p| p.3.as_secs_f64()).collect();
            let rates: Vec<f64> = of_phase
                .clone()
                .map(|p| p.2 as f64 / p.3.as_secs_f64().max(1e-9))
                .collect();
            let peak = of_phase.filter_map(|p| p.4).reduce(f64::max);
            Phase {
                name: name.to_string(),
                unit,
                count: *count,
                seconds,
                rate: median(rates),
                peak_rss_mib: peak,
            }
        })
        .collect()
}

/// The targets, as ratios where the machine's speed would otherwise decide.
fn checks(db: &BenchDb, phases: &[Phase], contacts: u64) -> Vec<Check> {
    let rate = |name: &str| phases.iter().find(|p| p.name == name).map(|p| p.rate);
    let mut out = Vec::new();
    let mut ratio = |what: &str, a: Option<f64>, b: Option<f64>, target: f64| {
        if let (Some(a), Some(b)) = (a, b) {
            let value = a / b.max(1e-9);
            out.push(Check {
                what: what.into(),
                value,
                target,
                met: value >= target,
            });
        }
    };
    ratio(
        "planning / raw bulk insert",
        rate("plan"),
        rate("raw_insert"),
        0.5,
    );
    let best_raw = [rate("raw_claim_complete_1"), rate("raw_claim_complete_4")]
        .into_iter()
        .flatten()
        .reduce(f64::max);
    ratio(
        "dispatch / raw claim-and-complete (best)",
        rate("dispatch"),
        best_raw,
        0.3,
    );
    ratio(
        "dispatch / one apalis task per attempt",
        rate("dispatch"),
        rate("peer_apalis_process"),
        if *db == BenchDb::Sqlite { 10.0 } else { 1.0 },
    );
    ratio(
        "export Parquet / export CSV",
        rate("export_parquet"),
        rate("export_csv"),
        0.5,
    );
    let mut absolute = |what: &str, value: Option<f64>, target: f64| {
        if let Some(value) = value {
            out.push(Check {
                what: what.into(),
                value,
                target,
                met: value >= target,
            });
        }
    };
    absolute("import contacts/s", rate("import"), 100_000.0);
    absolute("export CSV rows/s", rate("export_csv"), 1_000_000.0);
    if contacts >= 1_000_000 {
        let peak = phases
            .iter()
            .filter_map(|p| p.peak_rss_mib)
            .reduce(f64::max);
        if let Some(peak) = peak {
            out.push(Check {
                what: "peak memory MiB (under)".into(),
                value: peak,
                target: 200.0,
                met: peak < 200.0,
            });
        }
    }
    out
}

/// The report as a Markdown table (for `docs/performance.md`).
pub fn markdown(reports: &[Report]) -> String {
    let mut s = String::new();
    for r in reports {
        s.push_str(&format!(
            "### {} ({}), {} contacts, median of {} on {} cores\n\n",
            r.db,
            r.server,
            thousands(r.contacts as f64),
            r.repetitions,
            r.cores
        ));
        s.push_str("| phase | rate | seconds | peak memory |\n|---|---:|---:|---:|\n");
        for p in &r.phases {
            s.push_str(&format!(
                "| {} | {} {}/s | {} | {} |\n",
                p.name,
                thousands(p.rate),
                p.unit,
                p.seconds
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                p.peak_rss_mib.map_or("-".into(), |m| format!("{m:.0} MiB"))
            ));
        }
        s.push_str("\n| target | value | wanted | met |\n|---|---:|---:|:---:|\n");
        for c in &r.checks {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                c.what,
                pretty(c.value),
                pretty(c.target),
                if c.met { "yes" } else { "**no**" }
            ));
        }
        s.push('\n');
    }
    s
}

fn pretty(x: f64) -> String {
    if x >= 1000.0 {
        thousands(x)
    } else {
        format!("{x:.2}")
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
