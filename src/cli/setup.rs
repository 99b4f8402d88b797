//! `init`, `validate`, `schema`, `campaign`, `template`, `config`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use super::{Ctx, print_json};
use crate::domain::lifecycle::CampaignState;
use crate::domain::values::Channel;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to write into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite example files that already exist.
    #[arg(long)]
    pub force: bool,
}

pub fn init(args: &InitArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let written = crate::examples::write_all(&args.dir, args.force)?;
    for w in &written {
        println!("wrote {w}");
    }
    eprintln!(
        "\nNext: `cd {}`, import contacts with `herald contacts import FILE.csv --list overdue`, then `herald validate` and `herald plan collections_reminder --dry-run`.",
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Definition files or folders [default: the configured jobs folder].
    pub paths: Vec<PathBuf>,
}

pub async fn validate(ctx: &Ctx, args: &ValidateArgs) -> Result<ExitCode> {
    let catalog = ctx.catalog(&args.paths).await?;
    let errors = catalog.errors();
    let warnings = catalog.diagnostics.len() - errors;
    if ctx.json() {
        print_json(&serde_json::json!({
            "valid": errors == 0,
            "campaigns": catalog.campaigns.iter().map(|c| serde_json::json!({
                "id": c.campaign.id, "file": c.file.display().to_string(), "version": &c.hash[..12],
            })).collect::<Vec<_>>(),
            "diagnostics": catalog.diagnostics,
        }))?;
    } else {
        for d in &catalog.diagnostics {
            println!("{d}\n");
        }
        for c in &catalog.campaigns {
            println!(
                "ok  {:<28} {} (version {})",
                c.campaign.id,
                c.file.display(),
                &c.hash[..12]
            );
        }
        println!(
            "\n{} campaign(s) valid, {} broken; {errors} error(s), {warnings} warning(s)",
            catalog.campaigns.len(),
            catalog.broken.len()
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file format.
    #[arg(value_enum, default_value_t = SchemaOf::Campaign)]
    pub of: SchemaOf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaOf {
    /// Campaign definitions (`jobs/*.toml`).
    Campaign,
    /// The settings file (`herald.toml`).
    Config,
}

pub fn schema(args: &SchemaArgs) -> Result<ExitCode> {
    let schema = match args.of {
        SchemaOf::Config => schemars::schema_for!(crate::config::ConfigFile),
        SchemaOf::Campaign => schemars::schema_for!(crate::domain::campaign::CampaignDef),
    };
    print_json(&schema)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum CampaignCmd {
    /// List campaigns with their kind, schedule and next run.
    List,
    /// Show one campaign as herald understood it.
    Show {
        /// Campaign id (the definition's file name without `.toml`).
        campaign: String,
    },
    /// Stop sending: queued attempts wait, no new runs start, until `resume`.
    Pause { campaign: String },
    /// Send again what a pause held back (each attempt once).
    Resume { campaign: String },
    /// Stop for good: queued attempts are cancelled and no new runs start.
    Cancel {
        campaign: String,
        /// Confirm: cancelling cannot be undone for the attempts it cancels.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn campaign(ctx: &Ctx, cmd: CampaignCmd) -> Result<ExitCode> {
    let catalog = ctx.catalog(&[]).await?;
    let now = ctx.now();
    let state_change = match &cmd {
        CampaignCmd::Pause { campaign } => Some((campaign, CampaignState::Paused)),
        CampaignCmd::Resume { campaign } => Some((campaign, CampaignState::Active)),
        CampaignCmd::Cancel { campaign, yes } => {
            if !yes {
                anyhow::bail!(
                    "cancelling `{campaign}` cancels its queued attempts for good: add --yes to confirm"
                );
            }
            Some((campaign, CampaignState::Cancelled))
        }
        _ => None,
    };
    if let Some((id, state)) = state_change {
        if !catalog.campaigns.iter().any(|c| &c.campaign.id == id) && !catalog.broken.contains(id) {
            catalog.campaign(id).map_err(anyhow::Error::msg)?;
        }
        let store = ctx.store().await?;
        let before = store.campaign_state(id).await?;
        let state = before.move_to(state, id)?;
        store.set_campaign_state(id, state, now).await?;
        let cancelled = if state == CampaignState::Cancelled {
            store
                .cancel_queued_for_campaign(id, "campaign_cancelled", now)
                .await?
        } else {
            0
        };
        tracing::info!(campaign = %id, from = %before, to = %state, "campaign state changed");
        println!(
            "campaign {id}: {before} → {state}{}",
            if cancelled > 0 {
                format!(" ({cancelled} queued attempts cancelled)")
            } else {
                String::new()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    match cmd {
        CampaignCmd::List => {
            let rows: Vec<serde_json::Value> = catalog
                .campaigns
                .iter()
                .map(|c| {
                    let camp = &c.campaign;
                    serde_json::json!({
                        "id": camp.id, "name": camp.name, "kind": camp.kind.as_str(),
                        "schedule": camp.schedule.describe(),
                        "next_run": camp.schedule.next_occurrence(now),
                        "steps": camp.steps.iter().map(|s| format!("{}:{}", s.id, s.channel)).collect::<Vec<_>>(),
                        "version": &c.hash[..12],
                    })
                })
                .collect();
            if ctx.json() {
                print_json(&rows)?;
            } else {
                println!(
                    "{:<24} {:<11} {:<40} NEXT RUN",
                    "CAMPAIGN", "KIND", "SCHEDULE"
                );
                for c in &catalog.campaigns {
                    let next = c
                        .campaign
                        .schedule
                        .next_occurrence(now)
                        .map_or("-".to_string(), |t| {
                            t.format("%Y-%m-%d %H:%M UTC").to_string()
                        });
                    println!(
                        "{:<24} {:<11} {:<40} {next}",
                        c.campaign.id,
                        c.campaign.kind.as_str(),
                        c.campaign.schedule.describe()
                    );
                }
                for b in &catalog.broken {
                    println!("{b:<24} (broken: run `herald validate`)");
                }
            }
        }
        CampaignCmd::Pause { .. } | CampaignCmd::Resume { .. } | CampaignCmd::Cancel { .. } => {
            unreachable!("handled above")
        }
        CampaignCmd::Show { campaign } => {
            let loaded = catalog.campaign(&campaign).map_err(anyhow::Error::msg)?;
            let c = &loaded.campaign;
            if ctx.json() {
                print_json(&serde_json::json!({
                    "id": c.id, "name": c.name, "kind": c.kind.as_str(), "file": loaded.file.display().to_string(),
                    "version": loaded.hash, "schedule": c.schedule.describe(), "next_run": c.schedule.next_occurrence(now),
                    "audience": { "lists": c.audience.lists, "segment": c.audience.segment.as_ref().map(|s| s.source()) },
                    "windows": Channel::ALL.iter().map(|ch| (ch.as_str(), ctx.settings.policy.effective_window(*ch, c.windows.get(ch)).to_string())).collect::<std::collections::BTreeMap<_, _>>(),
                    "steps": c.steps.iter().map(|s| serde_json::json!({"id": s.id, "channel": s.channel, "template": s.template, "flow": s.flow, "after": s.after.to_string(), "when": s.when})).collect::<Vec<_>>(),
                }))?;
            } else {
                println!("{} ({}) — {}", c.id, c.name, c.kind.as_str());
                println!(
                    "  file      {} (version {})",
                    loaded.file.display(),
                    &loaded.hash[..12]
                );
                println!("  schedule  {}", c.schedule.describe());
                if let Some(next) = c.schedule.next_occurrence(now) {
                    println!("  next run  {}", next.format("%Y-%m-%d %H:%M UTC"));
                }
                println!(
                    "  audience  lists [{}] segment {}",
                    c.audience.lists.join(", "),
                    c.audience.segment.as_ref().map_or("-", |s| s.source())
                );
                for (i, s) in c.steps.iter().enumerate() {
                    let what = s.template.as_deref().or(s.flow.as_deref()).unwrap_or("-");
                    let when = s.when.map(|w| format!(" when {w}")).unwrap_or_default();
                    let after = if i == 0 {
                        "at run start".to_string()
                    } else {
                        format!("{} after previous", s.after)
                    };
                    println!(
                        "  step {}   {} via {} ({what}), {after}{when}",
                        i + 1,
                        s.id,
                        s.channel
                    );
                    println!(
                        "           window {}",
                        ctx.settings
                            .policy
                            .effective_window(s.channel, c.windows.get(&s.channel))
                    );
                }
                for r in &c.routing {
                    println!(
                        "  routing   {} → {} when {}",
                        r.step.as_deref().unwrap_or("call steps"),
                        r.channel,
                        r.when
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// Render a template for one contact.
    Preview {
        /// Template name (`payment_reminder`).
        name: String,
        /// External id of the contact to render for.
        #[arg(long)]
        contact: String,
        /// Channel of the template [default: the only channel that has this name].
        #[arg(long)]
        channel: Option<Channel>,
        /// Campaign whose name and default locale the template sees.
        #[arg(long)]
        campaign: Option<String>,
    },
    /// List templates with their channels and locales.
    List,
}

pub async fn template(ctx: &Ctx, cmd: TemplateCmd) -> Result<ExitCode> {
    let catalog = ctx.catalog(&[]).await?;
    let templates = &catalog.templates;
    match cmd {
        TemplateCmd::List => {
            let mut rows: std::collections::BTreeMap<(String, String), Vec<String>> =
                Default::default();
            for f in templates.files() {
                let entry = rows
                    .entry((f.channel.to_string(), f.name.clone()))
                    .or_default();
                if !entry.contains(&f.locale) {
                    entry.push(f.locale.clone());
                }
            }
            if ctx.json() {
                print_json(&rows.iter().map(|((c, n), l)| serde_json::json!({"channel": c, "name": n, "locales": l})).collect::<Vec<_>>())?;
            } else {
                for ((c, n), l) in rows {
                    println!("{c:<10} {n:<28} {}", l.join(", "));
                }
            }
        }
        TemplateCmd::Preview {
            name,
            contact,
            channel,
            campaign,
        } => {
            let channel = match channel {
                Some(c) => c,
                None => {
                    let channels: std::collections::BTreeSet<Channel> = templates
                        .files()
                        .filter(|f| f.name == name)
                        .map(|f| f.channel)
                        .collect();
                    match channels.len() {
                        0 => bail!(
                            "there is no template `{name}`; `herald template list` shows them"
                        ),
                        1 => *channels.iter().next().expect("one"),
                        _ => {
                            bail!("`{name}` exists for several channels; choose one with --channel")
                        }
                    }
                }
            };
            let camp = campaign
                .as_deref()
                .map(|c| catalog.campaign(c).map_err(anyhow::Error::msg))
                .transpose()?;
            let store = ctx.store().await?;
            let person = store
                .contact(&contact)
                .await?
                .with_context(|| format!("there is no contact with external id `{contact}`"))?;
            let rendered = templates
                .render(
                    channel,
                    &name,
                    &crate::templates::RenderFor::preview(&person, camp.map(|c| &c.campaign)),
                    &ctx.settings.default_locale,
                )
                .map_err(anyhow::Error::msg)?;
            if ctx.json() {
                print_json(&rendered)?;
            } else {
                println!(
                    "template {} ({}, locale {}) for {}",
                    rendered.template,
                    rendered.channel,
                    rendered.locale,
                    person.display_masked()
                );
                if let Some(s) = &rendered.subject {
                    println!("subject: {s}");
                }
                println!("---\n{}\n---", rendered.text);
                if let Some(h) = &rendered.html {
                    println!("html part:\n{h}\n---");
                }
                if let Some(shape) = &rendered.sms {
                    let enc = match shape.encoding {
                        crate::domain::sms::SmsEncoding::Gsm7 => "GSM-7".to_string(),
                        crate::domain::sms::SmsEncoding::Ucs2 => format!(
                            "UCS-2 (because of {})",
                            shape
                                .non_gsm
                                .iter()
                                .map(|c| format!("`{c}`"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    };
                    println!(
                        "sms: {} segment(s), {} units, {enc}",
                        shape.segments, shape.units
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the resolved settings and the source of each.
    Show,
}

pub fn config(ctx: &Ctx, cmd: ConfigCmd) -> Result<ExitCode> {
    match cmd {
        ConfigCmd::Show => {
            let s = &ctx.settings;
            if ctx.json() {
                let mut v = serde_json::to_value(s)?;
                v["database_url"] =
                    serde_json::Value::String(crate::config::redact_url(&s.database_url));
                print_json(&v)?;
            } else {
                let source = |k: &str| {
                    s.sources
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| "default".into())
                };
                println!(
                    "config file       {}",
                    s.config_file
                        .as_ref()
                        .map_or("(none)".into(), |p| p.display().to_string())
                );
                println!(
                    "database_url      {}   [{}]",
                    crate::config::redact_url(&s.database_url),
                    source("database_url")
                );
                println!(
                    "jobs_dir          {}   [{}]",
                    s.jobs_dir.display(),
                    source("jobs_dir")
                );
                println!(
                    "templates_dir     {}   [{}]",
                    s.templates_dir.display(),
                    source("templates_dir")
                );
                println!(
                    "default_locale    {}   [{}]",
                    s.default_locale,
                    source("default_locale")
                );
                println!(
                    "default_region    {}   [{}]",
                    s.default_region.as_deref().unwrap_or("-"),
                    source("default_region")
                );
                println!(
                    "default_timezone  {}   [{}]",
                    s.default_timezone.map_or("-".into(), |t| t.to_string()),
                    source("default_timezone")
                );
                for (family, w) in &s.policy.quiet_hours {
                    println!("quiet hours       {:<6} {w}", family.as_str());
                }
                for cap in &s.policy.caps {
                    println!("cap               {cap}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
