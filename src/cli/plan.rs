//! `plan` and `why`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clap::Args;

use super::{AtArg, Ctx, print_json, thousands};
use crate::domain::campaign::Campaign;
use crate::domain::plan::PlanSummary;
use crate::domain::policy::{SkipReason, Verdict};
use crate::planning;
use crate::store::AnyStore;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Campaign id (the definition's file name without `.toml`).
    pub campaign: String,
    /// Show the plan without writing anything (the only mode until the daemon lands).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub at: AtArg,
}

/// The campaign (only if it loaded cleanly), the moment of the run, and the store.
async fn load(ctx: &Ctx, id: &str, at: &AtArg) -> Result<(Campaign, DateTime<Utc>, AnyStore)> {
    let catalog = ctx.catalog(&[]).await?;
    let campaign = catalog
        .campaign(id)
        .map_err(anyhow::Error::msg)?
        .campaign
        .clone();
    let at = planning::run_moment(&campaign, at.moment(ctx.now())?, ctx.now())
        .map_err(anyhow::Error::msg)?;
    Ok((campaign, at, ctx.store().await?))
}

pub async fn plan(ctx: &Ctx, args: &PlanArgs) -> Result<ExitCode> {
    if !args.dry_run {
        bail!(
            "only `herald plan {} --dry-run` is available: runs are started by the daemon",
            args.campaign
        );
    }
    let (campaign, at, store) = load(ctx, &args.campaign, &args.at).await?;
    let campaign = &campaign;
    let summary = planning::dry_run(&store, campaign, &ctx.settings, at).await?;
    if ctx.json() {
        print_json(&summary)?;
    } else {
        print!(
            "{}",
            render_plan(&summary, &campaign.name, campaign.schedule.timezone())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan as text, with times in `tz` (the campaign's schedule zone).
pub fn render_plan(s: &PlanSummary, name: &str, tz: Tz) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M").to_string();
    let run_at = s.run_at.map(local).unwrap_or_default();
    let _ = writeln!(
        out,
        "Plan for {} ({name}), run at {run_at} {tz} — dry run, nothing written",
        s.campaign
    );
    let _ = writeln!(
        out,
        "  audience: {} contacts read, {} not in the segment, {} planned, {} skipped",
        thousands(s.considered),
        thousands(s.not_in_segment),
        thousands(s.planned),
        thousands(s.skipped.values().sum())
    );
    for step in &s.steps {
        let first = step.first.map(local).unwrap_or_default();
        let last = step.last.map(local).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n  step {} via {}: {} contacts, {first} → {last}",
            step.step,
            step.channel,
            thousands(step.contacts)
        );
        if !step.delayed.is_empty() {
            let delays: Vec<String> = step
                .delayed
                .iter()
                .map(|(r, n)| format!("{r} {}", thousands(*n)))
                .collect();
            let _ = writeln!(out, "    delayed: {}", delays.join(", "));
        }
        let max = step.by_hour.values().copied().max().unwrap_or(1).max(1);
        let hours: Vec<_> = step.by_hour.iter().collect();
        let shown = 24;
        for (hour, n) in hours.iter().take(shown) {
            let bar = "█".repeat(((**n as f64 / max as f64) * 30.0).ceil() as usize);
            let _ = writeln!(out, "    {}  {:>8}  {bar}", local(**hour), thousands(**n));
        }
        if hours.len() > shown {
            let rest: u64 = hours.iter().skip(shown).map(|(_, n)| **n).sum();
            let _ = writeln!(
                out,
                "    … {} more hours, {} contacts",
                hours.len() - shown,
                thousands(rest)
            );
        }
    }
    if !s.skipped.is_empty() {
        let _ = writeln!(out, "\n  skipped by reason:");
        let mut reasons: Vec<_> = s.skipped.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        for (code, n) in reasons {
            let text = reason_text(code);
            let _ = writeln!(out, "    {code:<20} {:>8}  {text}", thousands(*n));
        }
    }
    if !s.later_steps.is_empty() {
        let _ = writeln!(out, "\n  later steps (planned as outcomes arrive):");
        for l in &s.later_steps {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

fn reason_text(code: &str) -> &'static str {
    SkipReason::ALL
        .into_iter()
        .find(|r| r.as_str() == code)
        .map_or("", |r| r.explain())
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// External id of the contact.
    pub contact: String,
    /// Campaign id.
    pub campaign: String,
    #[command(flatten)]
    pub at: AtArg,
}

pub async fn why(ctx: &Ctx, args: &WhyArgs) -> Result<ExitCode> {
    let (campaign, at, store) = load(ctx, &args.campaign, &args.at).await?;
    let campaign = &campaign;
    let Some(story) = planning::explain(&store, campaign, &ctx.settings, &args.contact, at).await?
    else {
        bail!("there is no contact with external id `{}`", args.contact);
    };
    if ctx.json() {
        print_json(&story)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} and campaign {}: {}",
        story.contact, story.campaign, story.summary
    );
    println!(
        "  run at      {}",
        story.run_at.format("%a %Y-%m-%d %H:%M UTC")
    );
    println!(
        "  time zone   {}",
        story.timezone.as_deref().unwrap_or("unknown")
    );
    println!(
        "  lists       {}{}",
        if story.lists.is_empty() {
            "none".into()
        } else {
            story.lists.join(", ")
        },
        if story.in_lists {
            ""
        } else {
            "  (not an audience list)"
        }
    );
    if let Some(m) = story.in_segment {
        println!(
            "  segment     {} ({})",
            if m { "matches" } else { "does not match" },
            campaign
                .audience
                .segment
                .as_ref()
                .map_or("", |s| s.source())
        );
    }
    let tags: Vec<String> = story.tags.iter().map(|t| t.name.clone()).collect();
    println!(
        "  tags        {}",
        if tags.is_empty() {
            "none".into()
        } else {
            tags.join(", ")
        }
    );
    for s in &story.suppressions {
        let channel = s.channel.map_or("all channels", |c| c.as_str());
        let until = s.expires_at.map_or("no expiry".into(), |e| {
            format!("until {}", e.format("%Y-%m-%d"))
        });
        println!(
            "  suppressed  {} {} on {channel}: {} ({until})",
            s.kind.as_str(),
            s.target.masked_value(),
            s.reason
        );
    }
    for (i, st) in story.steps.iter().enumerate() {
        let routed = st
            .routed_from
            .map(|c| format!(" (routed from {c})"))
            .unwrap_or_default();
        println!(
            "\n  step {} {} via {}{routed}, due {}",
            i + 1,
            st.step,
            st.channel,
            st.due.format("%Y-%m-%d %H:%M UTC")
        );
        println!("    {}", st.explanation);
        if let Some(l) = &st.local_time
            && !matches!(st.verdict, Verdict::Never { .. })
        {
            println!("    contact's local time then: {l}");
        }
        println!("    window (policy ∩ campaign): {}", st.window);
        for c in &st.caps {
            let full = c
                .frees_at
                .map(|f| format!(", full until {}", f.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            println!("    cap {}: {}/{} used{full}", c.cap, c.used, c.max);
        }
    }
    if story.history.is_empty() {
        println!("\n  attempts in the cap periods: none");
    }
    if story.events.is_empty() {
        println!("  what happened so far: nothing yet");
    } else {
        println!("\n  what happened so far:");
        for e in &story.events {
            let at = e["at"].as_str().unwrap_or("");
            let detail = e["detail"]
                .as_str()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            println!(
                "    {}  {:<22} {} step {} via {} attempt {}{detail}",
                at.get(..16).unwrap_or(at).replace('T', " "),
                e["kind"].as_str().unwrap_or(""),
                e["campaign"].as_str().unwrap_or(""),
                e["step"].as_str().unwrap_or(""),
                e["channel"].as_str().unwrap_or(""),
                e["attempt"]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
