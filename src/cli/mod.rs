//! The command line: one file per command group. Data goes to stdout (`--format
//! table|json`), logs and progress to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::{Catalog, Known};
use crate::clock::{Clock, FixedClock, SystemClock, parse_moment};
use crate::config::{Overrides, Settings};
use crate::store::{AnyStore, Store};

/// Counts print as the reports print them.
pub use crate::export::report::thousands;

/// Whether commands accept `postgres://` URLs (every store operation exists for both
/// databases and passes the conformance suite on both).
const POSTGRES_READY: bool = true;

mod agent;
mod bench;
mod contacts;
mod demo;
mod doctor;
mod export;
mod migrate;
mod plan;
mod provider_sim;
mod report;
mod run;
mod segment;
mod setup;

/// herald: outbound campaign and satisfaction-survey scheduler.
///
/// Campaigns are files in `jobs/`, messages are templates in `templates/`. Start with
/// `herald demo` to see it all work on sample data, or `herald init` to get the examples
/// into a folder of your own.
#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Config file [default: ./herald.toml when present; env HERALD_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL, e.g. sqlite://herald.db [env HERALD_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Output format for data: table or json [default: table]; for `export`, csv, jsonl
    /// or parquet [default: csv].
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,

    /// More logging on stderr (-v info, -vv debug); HERALD_LOG takes a filter too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// `export` only.
    Csv,
    /// `export` only: JSON Lines.
    Jsonl,
    /// `export` only.
    Parquet,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in demo: sample contacts, the example campaigns, their plans.
    Demo(demo::DemoArgs),
    /// Write a commented config, example campaigns and templates into a folder.
    Init(setup::InitArgs),
    /// Check campaign definitions and templates; every problem at once.
    Validate(setup::ValidateArgs),
    /// Print the JSON Schema of campaign definitions (or of herald.toml).
    Schema(setup::SchemaArgs),
    /// Plan a campaign run: who would be contacted, on which channel, when, and why not.
    Plan(plan::PlanArgs),
    /// Explain one contact's eligibility for a campaign and their next allowed moment.
    Why(plan::WhyArgs),
    /// Do what is due: plan runs, send due attempts, apply provider events.
    Run(run::RunArgs),
    /// Forecast a campaign: run it over simulated days on a copy of the data.
    Simulate(run::SimulateArgs),
    /// A campaign's funnel, rates, NPS/CSAT, breakdowns and A/B results (text, JSON, HTML).
    Report(report::ReportArgs),
    /// Runs of campaigns: list, and one run's attempts.
    #[command(subcommand)]
    Runs(run::RunsCmd),
    /// The daemon's queue tasks: counts, failures, retry, cancel.
    #[command(subcommand)]
    Jobs(run::JobsCmd),
    /// Check the installation: config, database, migrations, campaigns, SMTP, secret, API port.
    Doctor,
    /// Export attempts, events, survey responses, contacts or tags as CSV, JSON Lines or Parquet.
    Export(export::ExportArgs),
    /// The agent desk: add agents, take the next call, record its outcome.
    #[command(subcommand)]
    Agent(agent::AgentCmd),
    /// A reference SMS and voice-bot provider speaking herald's HTTP protocol, for trials and tests.
    ProviderSim(provider_sim::ProviderSimArgs),
    /// Campaigns: list, show, pause, resume, cancel.
    #[command(subcommand)]
    Campaign(setup::CampaignCmd),
    /// Import and inspect contacts.
    #[command(subcommand)]
    Contacts(contacts::ContactsCmd),
    /// Manage do-not-contact entries.
    #[command(subcommand)]
    Dnc(contacts::DncCmd),
    /// Tag contacts and list tags.
    #[command(subcommand)]
    Tags(contacts::TagsCmd),
    /// Preview a segment filter: how many contacts it selects, and a sample.
    #[command(subcommand)]
    Segment(segment::SegmentCmd),
    /// Preview and list message templates.
    #[command(subcommand)]
    Template(setup::TemplateCmd),
    /// Create or update the database schema.
    Migrate(migrate::MigrateArgs),
    /// Measure herald against the database's own limits and an apalis peer, in one run.
    Bench(bench::BenchArgs),
    /// Show the settings in force and where each came from.
    #[command(subcommand)]
    Config(setup::ConfigCmd),
}

/// What every command gets.
pub struct Ctx {
    pub settings: Settings,
    pub clock: Box<dyn Clock>,
    pub format: Format,
}

impl Ctx {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Opens the database, creating and migrating it when needed.
    pub async fn store(&self) -> Result<AnyStore> {
        open_store(&self.settings.database_url).await
    }

    /// Opens the database only if it exists (for read-only checks such as `validate`).
    pub async fn existing_store(&self) -> Result<Option<AnyStore>> {
        let url = &self.settings.database_url;
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            && !Path::new(path.split('?').next().unwrap_or(path)).exists()
        {
            return Ok(None);
        }
        Ok(Some(self.store().await?))
    }

    /// Loads the catalog from the configured jobs folder (or `paths`), with what the
    /// database knows about attributes and tags.
    pub async fn catalog(&self, paths: &[PathBuf]) -> Result<Catalog> {
        let known = match self.existing_store().await? {
            Some(store) => Known {
                attributes: store.attribute_keys().await?,
                tags: store.tag_names().await?,
            },
            None => Known::default(),
        };
        let paths = if paths.is_empty() {
            vec![self.settings.jobs_dir.clone()]
        } else {
            paths.to_vec()
        };
        Ok(Catalog::load(&paths, &self.settings, &known))
    }

    /// One valid campaign of the catalog, by id (an error names what is wrong with it).
    pub async fn campaign(&self, id: &str) -> Result<crate::domain::campaign::Campaign> {
        let catalog = self.catalog(&[]).await?;
        Ok(catalog
            .campaign(id)
            .map_err(anyhow::Error::msg)?
            .campaign
            .clone())
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

/// Opens (creating if missing) and migrates the store at `url`.
pub async fn open_store(url: &str) -> Result<AnyStore> {
    if url.starts_with("postgres") && !POSTGRES_READY {
        bail!("PostgreSQL is not supported by this build yet; use sqlite://PATH");
    }
    let store = AnyStore::open(url, true)
        .await
        .with_context(|| format!("opening the database {}", crate::config::redact_url(url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    // The file formats belong to `export`; every other command prints a table or JSON.
    let format = match (&cli.command, cli.format) {
        (Command::Export(_), _) => Format::Table,
        (_, Some(f @ (Format::Csv | Format::Jsonl | Format::Parquet))) => {
            bail!(
                "--format {} is for `herald export`; this command prints `table` or `json`",
                f.to_possible_value()
                    .map_or("?".into(), |v| v.get_name().to_string())
            )
        }
        (_, f) => f.unwrap_or(Format::Table),
    };
    // Commands that need no settings.
    match &cli.command {
        Command::Demo(args) => return demo::run(args, format).await,
        Command::Init(args) => return setup::init(args),
        Command::Schema(args) => return setup::schema(args),
        Command::Bench(args) => return bench::run(args, format).await,
        _ => {}
    }
    let overrides = Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
    };
    let settings = match Settings::load(&overrides) {
        Ok(s) => s,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "\nherald: the configuration has {} problem(s); nothing was done",
                problems.len()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let clock: Box<dyn Clock> = match std::env::var("HERALD_NOW").ok().filter(|v| !v.is_empty()) {
        Some(t) => Box::new(FixedClock(
            parse_moment(&t, chrono::Utc::now())
                .map_err(anyhow::Error::msg)
                .context("reading HERALD_NOW")?,
        )),
        None => Box::new(SystemClock),
    };
    let ctx = Ctx {
        settings,
        clock,
        format,
    };
    match cli.command {
        Command::Validate(args) => setup::validate(&ctx, &args).await,
        Command::Plan(args) => plan::plan(&ctx, &args).await,
        Command::Why(args) => plan::why(&ctx, &args).await,
        Command::Campaign(cmd) => setup::campaign(&ctx, cmd).await,
        Command::Run(args) => run::run(&ctx, &args).await,
        Command::Simulate(args) => run::simulate(&ctx, &args).await,
        Command::Report(args) => report::report(&ctx, &args).await,
        Command::Runs(cmd) => run::runs(&ctx, cmd).await,
        Command::Jobs(cmd) => run::jobs(&ctx, cmd).await,
        Command::Doctor => doctor::doctor(&ctx).await,
        Command::Export(args) => export::export(&ctx, &args, cli.format).await,
        Command::Agent(cmd) => agent::agent(&ctx, cmd).await,
        Command::ProviderSim(args) => provider_sim::run(&ctx, &args).await,
        Command::Contacts(cmd) => contacts::contacts(&ctx, cmd).await,
        Command::Dnc(cmd) => contacts::dnc(&ctx, cmd).await,
        Command::Tags(cmd) => contacts::tags(&ctx, cmd).await,
        Command::Segment(cmd) => segment::segment(&ctx, cmd).await,
        Command::Template(cmd) => setup::template(&ctx, cmd).await,
        Command::Migrate(args) => migrate::migrate(&ctx, &args).await,
        Command::Config(cmd) => setup::config(&ctx, cmd),
        Command::Demo(_) | Command::Init(_) | Command::Schema(_) | Command::Bench(_) => {
            unreachable!("handled above")
        }
    }
}

/// Shared `--at` argument.
#[derive(Debug, Args)]
pub struct AtArg {
    /// The moment to plan for: `now`, `2026-11-26T09:00:00Z` or `2026-11-26 09:00` (UTC)
    /// [default: the schedule's next occurrence].
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

impl AtArg {
    pub fn moment(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.at
            .as_deref()
            .map(|t| parse_moment(t, now))
            .transpose()
            .map_err(anyhow::Error::msg)
    }
}
