//! `herald migrate [status|up|copy]`: the database schema, and moving an embedded SQLite
//! installation to PostgreSQL.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use super::{Ctx, print_json, thousands};
use crate::store::{AnyStore, PgStore, SqliteStore, Store};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: Option<MigrateCmd>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCmd {
    /// Which migrations the database has, and which it lacks.
    Status,
    /// Apply the migrations the database lacks (the default).
    Up,
    /// Copy an embedded SQLite installation into an empty PostgreSQL database, history
    /// and ids included.
    Copy {
        /// The SQLite database, e.g. sqlite://herald.db.
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://herald@db.internal/herald.
        #[arg(long)]
        to: String,
    },
}

pub async fn migrate(ctx: &Ctx, args: &MigrateArgs) -> Result<ExitCode> {
    let url = &ctx.settings.database_url;
    match &args.command {
        None | Some(MigrateCmd::Up) => {
            let store = AnyStore::open(url, true)
                .await
                .with_context(|| format!("opening {}", crate::config::redact_url(url)))?;
            let applied = store.migrate().await?;
            println!(
                "{applied} migration(s) applied; the {} database is up to date",
                store.dialect()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(MigrateCmd::Status) => {
            // A SQLite file that does not exist yet is not created by asking.
            let missing_file = url
                .strip_prefix("sqlite://")
                .is_some_and(|p| !std::path::Path::new(p.split('?').next().unwrap_or(p)).exists());
            let (rows, dialect) = if missing_file {
                (
                    crate::store::migrations_of_a_new_sqlite_database(),
                    "sqlite, not created yet",
                )
            } else {
                let store = AnyStore::open(url, false)
                    .await
                    .with_context(|| format!("opening {}", crate::config::redact_url(url)))?;
                (store.migration_status().await?, store.dialect())
            };
            let missing = rows.iter().filter(|r| r.applied_at.is_none()).count();
            if ctx.json() {
                print_json(&rows)?;
            } else {
                println!("{} ({dialect})", crate::config::redact_url(url));
                for r in &rows {
                    let state = r
                        .applied_at
                        .as_deref()
                        .map_or("pending".to_string(), |t| format!("applied {t}"));
                    println!("  {:04}  {:<28} {state}", r.version, r.description);
                }
                if missing > 0 {
                    println!("{missing} migration(s) pending: run `herald migrate up`");
                }
            }
            // Pending migrations are a state to act on, not an error of the command.
            Ok(ExitCode::SUCCESS)
        }
        Some(MigrateCmd::Copy { from, to }) => copy(from, to).await,
    }
}

async fn copy(from: &str, to: &str) -> Result<ExitCode> {
    if !from.starts_with("sqlite:") {
        bail!("--from must be a sqlite:// URL (the embedded installation to move)");
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a postgres:// URL");
    }
    let source = SqliteStore::open(from, false)
        .await
        .with_context(|| format!("opening {}", crate::config::redact_url(from)))?;
    // The source is brought up to date first, so both schemas match.
    source.migrate().await.context("migrating the source")?;
    let target = PgStore::open(to)
        .await
        .with_context(|| format!("opening {}", crate::config::redact_url(to)))?;
    target.migrate().await.context("migrating the target")?;
    let started = std::time::Instant::now();
    let report = crate::store::copy::sqlite_to_postgres(&source, &target, |t, n| {
        eprintln!("  {t:<18} {:>12} rows", thousands(n));
    })
    .await?;
    println!(
        "copied {} rows in {:.1} s from {} to {}; point HERALD_DATABASE_URL at the new database",
        thousands(report.rows()),
        started.elapsed().as_secs_f64(),
        crate::config::redact_url(from),
        crate::config::redact_url(to)
    );
    Ok(ExitCode::SUCCESS)
}
