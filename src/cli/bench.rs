//! `herald bench`: herald's figures next to the database's own limits (see `crate::bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::{Format, print_json};
use crate::bench::{self, BenchDb, BenchOptions, Report};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Contacts per repetition (so as many attempts, and twice as many events).
    #[arg(long, default_value_t = 100_000)]
    pub contacts: u64,
    /// `sqlite`, `postgres`, or `both`.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// The PostgreSQL server, as a database URL (its role needs CREATEDB: each repetition
    /// creates and drops its own database there).
    #[arg(long, env = "HERALD_BENCH_POSTGRES_URL", value_name = "URL")]
    pub postgres_url: Option<String>,
    /// Tasks the apalis peer runs (its rate falls as its queue grows, so it runs fewer
    /// than the contacts; the comparison then favours it).
    #[arg(long, default_value_t = bench::PEER_TASKS_MAX)]
    pub peer_tasks: u64,
    /// Repetitions; each figure is their median.
    #[arg(long, default_value_t = 3)]
    pub repetitions: usize,
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the tables as Markdown to this file.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

pub async fn run(args: &BenchArgs, format: Format) -> Result<ExitCode> {
    let dbs: Vec<BenchDb> = match args.db.as_str() {
        "sqlite" => vec![BenchDb::Sqlite],
        "postgres" | "both" => {
            let Some(url) = args.postgres_url.clone() else {
                bail!(
                    "--db {} needs a PostgreSQL server: give --postgres-url or set HERALD_BENCH_POSTGRES_URL",
                    args.db
                );
            };
            let pg = BenchDb::Postgres { url };
            if args.db == "both" {
                vec![BenchDb::Sqlite, pg]
            } else {
                vec![pg]
            }
        }
        other => bail!("unknown --db `{other}`: sqlite, postgres or both"),
    };
    let mut reports: Vec<Report> = Vec::new();
    for db in dbs {
        eprintln!(
            "herald bench: {} contacts on {}, {} repetition(s)",
            args.contacts,
            db.name(),
            args.repetitions
        );
        let options = BenchOptions {
            contacts: args.contacts,
            repetitions: args.repetitions,
            db: db.clone(),
            scratch: None,
            peer_tasks: args.peer_tasks,
        };
        let report = bench::run(&options, |rep, phase, secs| {
            eprintln!("  [{}] {phase:<22} {secs:>8.2} s", rep + 1);
        })
        .await
        .with_context(|| format!("benchmarking on {}", db.name()))?;
        reports.push(report);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&reports)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, bench::markdown(&reports))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if format == Format::Json {
        print_json(&reports)?;
    } else {
        print!("{}", bench::markdown(&reports));
    }
    Ok(ExitCode::SUCCESS)
}
