//! `run --until-idle`, `simulate`, `runs`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};

use super::{Ctx, print_json, thousands};
use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock, VirtualClock, parse_moment};
use crate::config::Settings;
use crate::domain::campaign::{Campaign, CampaignKind};
use crate::domain::outcome::Outcome;
use crate::engine::{Engine, Scope};
use crate::store::{CampaignStats, SqliteStore, Store};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Do what is due now (plan due runs, apply provider events, send due attempts), then
    /// exit; without it, run as the daemon until SIGINT or SIGTERM.
    #[arg(long)]
    pub until_idle: bool,
}

pub async fn run(ctx: &Ctx, args: &RunArgs) -> Result<ExitCode> {
    if !args.until_idle {
        return daemon(ctx).await;
    }
    let catalog = ctx.catalog(&[]).await?;
    report_broken(&catalog);
    let store = ctx.store().await?;
    let clock: Arc<dyn Clock> = match std::env::var("HERALD_NOW").ok().filter(|v| !v.is_empty()) {
        Some(_) => Arc::new(crate::clock::FixedClock(ctx.now())),
        None => Arc::new(SystemClock),
    };
    let engine = Engine::configured(store, catalog, ctx.settings.clone(), clock, Scope::All)?;
    let work = engine.run_until_idle().await?;
    if ctx.json() {
        print_json(&work)?;
    } else {
        println!(
            "runs planned {}, sent {}, rescheduled {}, skipped {}, events applied {}, runs finished {}",
            work.runs_planned,
            work.sent,
            work.rescheduled,
            work.skipped,
            work.events_applied,
            work.runs_finished
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The daemon: runs until SIGINT or SIGTERM, then stops gracefully.
async fn daemon(ctx: &Ctx) -> Result<ExitCode> {
    let catalog = ctx.catalog(&[]).await?;
    report_broken(&catalog);
    let campaigns: Vec<String> = catalog
        .campaigns
        .iter()
        .map(|c| c.campaign.id.clone())
        .collect();
    let store = ctx.store().await?;
    let options = crate::queue::DaemonOptions::for_database(&ctx.settings.database_url)?;
    let engine = Arc::new(Engine::configured(
        store,
        catalog,
        ctx.settings.clone(),
        Arc::new(SystemClock),
        Scope::All,
    )?);
    if ctx.settings.secret_is_default {
        tracing::warn!(
            "links and callbacks are signed with a development secret: set HERALD_SECRET (16+ characters)"
        );
    }
    tracing::info!(campaigns = ?campaigns, queue = %options.queue, "herald daemon starting");
    eprintln!(
        "herald: running {} campaign(s): {}; stop with Ctrl-C or SIGTERM",
        campaigns.len(),
        campaigns.join(", ")
    );
    // One signal stops both the queue and the HTTP API.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let problems = crate::api::exposure_problems(&ctx.settings);
    if !problems.is_empty() {
        anyhow::bail!(
            "refusing to serve the HTTP API on {}, an address other than loopback:\n  - {}",
            ctx.settings.api_bind,
            problems.join("\n  - ")
        );
    }
    let listener = tokio::net::TcpListener::bind(ctx.settings.api_bind)
        .await
        .with_context(|| format!("listening on {} (api_bind)", ctx.settings.api_bind))?;
    eprintln!("herald: HTTP API on http://{}", ctx.settings.api_bind);
    let api_state = Arc::new(crate::api::ApiState {
        store: engine.store.clone(),
        secret: ctx.settings.secret.clone(),
        clock: Arc::new(SystemClock),
        send_latency: engine.send_latency.clone(),
        queue: crate::queue::Jobs::open_or_create(&options.queue)
            .await
            .ok(),
        agent_token: ctx.settings.agent_token.clone(),
        api_token: ctx.settings.api_token.clone(),
        catalog: Some(Arc::new(ctx.catalog(&[]).await?)),
        settings: Arc::new(ctx.settings.clone()),
    });
    let mut api_stop = stop_rx.clone();
    let api = tokio::spawn(crate::api::serve(listener, api_state, async move {
        let _ = api_stop.changed().await;
    }));
    tokio::spawn(async move {
        if let Err(e) = shutdown_signal().await {
            tracing::error!(error = %e, "listening for signals failed");
        }
        let _ = stop_tx.send(true);
    });
    let mut queue_stop = stop_rx;
    crate::queue::run_daemon(engine, options, async move {
        let _ = queue_stop.changed().await;
        Ok(())
    })
    .await?;
    api.await
        .context("the HTTP API task")?
        .context("serving the HTTP API")?;
    eprintln!("herald: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

fn report_broken(catalog: &Catalog) {
    for id in &catalog.broken {
        eprintln!("herald: campaign `{id}` has errors and is not run (see `herald validate`)");
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Campaign id.
    pub campaign: String,
    /// How many days of simulated time.
    #[arg(long, default_value_t = 14)]
    pub days: i64,
    /// Start of the simulation [default: now].
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
}

/// Runs one campaign over simulated time on a copy of the data, with the simulated
/// providers, and prints the forecast. The real database is not touched.
pub async fn simulate(ctx: &Ctx, args: &SimulateArgs) -> Result<ExitCode> {
    let catalog = ctx.catalog(&[]).await?;
    let campaign = catalog
        .campaign(&args.campaign)
        .map_err(anyhow::Error::msg)?
        .campaign
        .clone();
    let start = match &args.from {
        Some(t) => parse_moment(t, ctx.now()).map_err(anyhow::Error::msg)?,
        None => ctx.now(),
    };
    let real = ctx.store().await?;
    let scratch = tempfile::Builder::new().prefix("herald-sim-").tempdir()?;
    let copy = scratch.path().join("copy.db");
    real.snapshot_to_sqlite(&copy)
        .await
        .context("copying the database for the simulation")?;
    let store = SqliteStore::open_scratch(&format!("sqlite://{}", copy.display())).await?;
    store.migrate().await?;
    // The daemons' rate buckets hold real moments, which may lie ahead of the simulated
    // time and would hold its sends back: the simulation starts with full buckets.
    store
        .clear_rate_buckets()
        .await
        .context("emptying the copy's rate buckets")?;
    let stats = simulate_on(store, catalog, &ctx.settings, &campaign, start, args.days).await?;
    if ctx.json() {
        print_json(
            &serde_json::json!({ "campaign": campaign.id, "from": start, "days": args.days, "forecast": stats }),
        )?;
    } else {
        println!(
            "Forecast for {} ({}) over {} simulated days from {} — simulated providers, a copy of the data",
            campaign.id,
            campaign.name,
            args.days,
            start.format("%Y-%m-%d %H:%M UTC")
        );
        print!("{}", render_stats(&campaign, &stats, &ctx.settings));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `campaign` (only) on `store` over `days` of virtual time from `start`.
pub async fn simulate_on<S: Store>(
    store: S,
    catalog: Catalog,
    settings: &Settings,
    campaign: &Campaign,
    start: DateTime<Utc>,
    days: i64,
) -> Result<CampaignStats> {
    let clock = VirtualClock::new(start);
    let engine = Engine::simulated(
        store,
        catalog,
        settings.clone(),
        Arc::new(clock.clone()),
        Scope::Only(campaign.id.clone()),
    );
    engine
        .simulate(&clock, start + Duration::days(days))
        .await?;
    Ok(engine
        .store
        .campaign_stats(&campaign.id, &conversions(campaign.kind))
        .await?)
}

/// The outcomes that count as a conversion for a kind of campaign.
pub fn conversions(kind: CampaignKind) -> Vec<Outcome> {
    match kind {
        CampaignKind::Collection => vec![Outcome::PromiseToPay, Outcome::Paid],
        CampaignKind::Survey => vec![
            Outcome::Replied,
            Outcome::SurveyCompleted,
            Outcome::NpsPromoter,
            Outcome::NpsPassive,
            Outcome::NpsDetractor,
        ],
        CampaignKind::Promotion => vec![Outcome::Clicked, Outcome::Replied],
        CampaignKind::Reminder => vec![Outcome::Replied, Outcome::Completed, Outcome::Answered],
    }
}

fn pct(n: i64, of: i64) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

/// A campaign's figures as text.
pub fn render_stats(campaign: &Campaign, s: &CampaignStats, settings: &Settings) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let conv: Vec<&str> = conversions(campaign.kind)
        .iter()
        .map(|o| o.as_str())
        .collect();
    let _ = writeln!(
        out,
        "  runs {}; contacts planned {}, attempted {}",
        s.runs,
        thousands(s.contacts as u64),
        thousands(s.attempted as u64)
    );
    let _ = writeln!(
        out,
        "  reached {} ({} of attempted)",
        thousands(s.reached as u64),
        pct(s.reached, s.attempted)
    );
    let _ = writeln!(
        out,
        "  converted {} ({} of attempted; {})",
        thousands(s.converted as u64),
        pct(s.converted, s.attempted),
        conv.join(", ")
    );
    let agent_hours = s.agent_calls as f64 * settings.sim.call_duration.secs() as f64 / 3600.0;
    let _ = writeln!(
        out,
        "  sends {}; connected agent calls {} ≈ {agent_hours:.1} agent hours",
        thousands(s.sent as u64),
        s.agent_calls
    );
    let _ = writeln!(out, "  by step and result:");
    for r in &s.outcomes {
        let _ = writeln!(
            out,
            "    {:<16} {:<10} {:<10} {:<22} {:>8}",
            r.step,
            r.channel,
            r.state,
            r.result,
            thousands(r.attempts as u64)
        );
    }
    if !s.events.is_empty() {
        let events: Vec<String> = s
            .events
            .iter()
            .map(|(k, n)| format!("{k} {}", thousands(*n as u64)))
            .collect();
        let _ = writeln!(out, "  events: {}", events.join(", "));
    }
    let _ = writeln!(out, "  busiest hours (UTC):");
    let mut hours = s.volume_by_hour.clone();
    hours.sort_by_key(|h| std::cmp::Reverse(h.2));
    for (hour, channel, n) in hours.iter().take(6) {
        let _ = writeln!(
            out,
            "    {hour}:00  {channel:<10} {:>8}",
            thousands(*n as u64)
        );
    }
    out
}

#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// List runs, newest first.
    List {
        #[arg(long)]
        campaign: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run: its plan and its attempts by step, channel and result.
    Show { id: i64 },
}

pub async fn runs(ctx: &Ctx, cmd: RunsCmd) -> Result<ExitCode> {
    let store = ctx.store().await?;
    match cmd {
        RunsCmd::List { campaign, limit } => {
            let runs = store.runs(campaign.as_deref(), limit).await?;
            if ctx.json() {
                print_json(&runs)?;
            } else {
                println!(
                    "{:>6}  {:<24} {:<20} {:<10} PLANNED",
                    "RUN", "CAMPAIGN", "OCCURRENCE", "STATE"
                );
                for r in runs {
                    let planned = r.summary["plan"]["planned"]
                        .as_u64()
                        .map_or("-".into(), thousands);
                    println!(
                        "{:>6}  {:<24} {:<20} {:<10} {planned}",
                        r.id,
                        r.campaign,
                        r.occurrence.format("%Y-%m-%d %H:%M"),
                        r.state
                    );
                }
            }
        }
        RunsCmd::Show { id } => {
            let Some(run) = store.run(id).await? else {
                bail!("there is no run {id}")
            };
            let tally = store.run_tally(id).await?;
            if ctx.json() {
                print_json(&serde_json::json!({ "run": run, "attempts": tally }))?;
            } else {
                println!(
                    "run {} of {} for {} — {}",
                    run.id,
                    run.campaign,
                    run.occurrence.format("%Y-%m-%d %H:%M UTC"),
                    run.state
                );
                for t in tally {
                    println!(
                        "  {:<16} {:<10} {:<10} {:<22} {:>8}",
                        t.step,
                        t.channel,
                        t.state,
                        t.result,
                        thousands(t.attempts as u64)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Queue tasks by queue and status; with --state, the tasks themselves.
    List {
        /// pending, running, done, failed or killed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a failed or killed task back in the queue (or every one with --all-failed).
    Retry {
        id: Option<String>,
        #[arg(long)]
        all_failed: bool,
    },
    /// Cancel a task that has not started.
    Cancel { id: String },
}

pub async fn jobs(ctx: &Ctx, cmd: JobsCmd) -> Result<ExitCode> {
    let options = crate::queue::DaemonOptions::for_database(&ctx.settings.database_url)?;
    let jobs = crate::queue::Jobs::open(&options.queue).await?;
    match cmd {
        JobsCmd::List { state: None, .. } => {
            let counts = jobs.counts().await?;
            if ctx.json() {
                print_json(
                    &counts
                        .iter()
                        .map(|(q, s, n)| serde_json::json!({"queue": q, "status": s, "tasks": n}))
                        .collect::<Vec<_>>(),
                )?;
            } else {
                println!("{:<18} {:<10} {:>8}", "QUEUE", "STATUS", "TASKS");
                for (q, s, n) in counts {
                    println!("{q:<18} {s:<10} {:>8}", thousands(n as u64));
                }
            }
        }
        JobsCmd::List {
            state: Some(state),
            limit,
        } => {
            let mut status: Vec<char> = state.to_lowercase().chars().collect();
            if let Some(first) = status.first_mut() {
                *first = first.to_ascii_uppercase();
            }
            let status: String = status.into_iter().collect();
            if !["Pending", "Queued", "Running", "Done", "Failed", "Killed"]
                .contains(&status.as_str())
            {
                bail!("unknown state `{state}`: pending, running, done, failed or killed");
            }
            let rows = jobs.list(&status, limit).await?;
            if ctx.json() {
                print_json(&rows)?;
            } else {
                for r in rows {
                    let at = DateTime::from_timestamp(r.run_at, 0)
                        .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
                    println!(
                        "{}  {:<16} {:<8} {}/{}  {at}  {}",
                        r.id,
                        r.queue,
                        r.status,
                        r.attempts,
                        r.max_attempts,
                        r.last_result.unwrap_or_default()
                    );
                }
            }
        }
        JobsCmd::Retry { id, all_failed } => {
            if id.is_none() && !all_failed {
                bail!("give a task id, or --all-failed");
            }
            let n = jobs.retry(id.as_deref(), ctx.now()).await?;
            println!("{n} task(s) back in the queue");
            return Ok(if n > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        JobsCmd::Cancel { id } => {
            let n = jobs.cancel(&id, ctx.now()).await?;
            println!("{n} task(s) cancelled");
            return Ok(if n > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
