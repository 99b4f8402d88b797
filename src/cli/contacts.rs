//! `contacts`, `dnc`, `tags`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use super::{Ctx, print_json, thousands};
use crate::domain::contact::{SuppressionKind, Tag};
use crate::import::{self, ContactImport, ImportReport, RowError};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ContactsCmd {
    /// Import contacts from a CSV file, upserting by external id.
    ///
    /// Columns: external_id (required), first_name, last_name, phone, email, locale,
    /// timezone, consent_sms, consent_email, consent_call, tags (`a;b`); every other
    /// column is an attribute. Bad rows are reported by line and left out.
    Import {
        /// The CSV file (`-` for standard input).
        file: PathBuf,
        /// Add the imported contacts to this list (created if missing).
        #[arg(long)]
        list: Option<String>,
    },
    /// Show one contact (contact details masked).
    Show {
        /// External id.
        contact: String,
    },
    /// List contact lists with their sizes.
    Lists,
}

/// A progress bar on stderr when it is a terminal, over the bytes of the file.
fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn open_input(file: &PathBuf) -> Result<(Box<dyn std::io::Read + Send>, Option<u64>)> {
    if file.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(std::io::BufReader::with_capacity(1 << 16, f)), len))
}

fn report_row(file: &str) -> impl FnMut(&RowError) + '_ {
    move |e: &RowError| eprintln!("{file}:{}: rejected: {}", e.line, e.reason)
}

fn print_report(ctx: &Ctx, what: &str, report: &ImportReport) -> Result<ExitCode> {
    if ctx.json() {
        print_json(report)?;
    } else {
        println!(
            "{what}: {} rows read; {} new, {} updated, {} unchanged; {} rejected",
            thousands(report.rows),
            thousands(report.written.inserted),
            thousands(report.written.updated),
            thousands(report.written.unchanged),
            thousands(report.rejected)
        );
        if report.timezone_inferred + report.timezone_unknown > 0 {
            println!(
                "time zones: {} inferred from phone numbers, {} unknown (they use the default time zone, or are skipped)",
                thousands(report.timezone_inferred),
                thousands(report.timezone_unknown)
            );
        }
    }
    // Rejected rows are reported, not fatal: the good rows are in.
    Ok(if report.rejected > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn contacts(ctx: &Ctx, cmd: ContactsCmd) -> Result<ExitCode> {
    let store = ctx.store().await?;
    match cmd {
        ContactsCmd::Import { file, list } => {
            let (input, len) = open_input(&file)?;
            let label = file.display().to_string();
            let bar = progress_bar(len);
            let options = ContactImport {
                list,
                default_region: ctx.settings.default_region.clone(),
                attributes: ctx.settings.attributes.clone(),
            };
            let report = import::import_contacts(
                &store,
                input,
                &options,
                ctx.now(),
                report_row(&label),
                |bytes| {
                    if let Some(b) = &bar {
                        b.set_position(bytes);
                    }
                },
            )
            .await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            print_report(ctx, &label, &report)
        }
        ContactsCmd::Show { contact } => {
            let c = store
                .contact(&contact)
                .await?
                .with_context(|| format!("there is no contact with external id `{contact}`"))?;
            let lists = store.lists_of(c.id).await?;
            let masked = serde_json::json!({
                "external_id": c.external_id,
                "first_name": c.first_name, "last_name": c.last_name,
                "phone": c.phone.as_ref().map(|p| p.masked()),
                "email": c.email.as_ref().map(|e| e.masked()),
                "locale": c.locale, "timezone": c.timezone.map(|t| t.to_string()),
                "consent": { "sms": c.consent.sms.as_str(), "email": c.consent.email.as_str(), "call": c.consent.call.as_str() },
                "attributes": c.attributes, "tags": c.tags, "lists": lists,
            });
            print_json(&masked)?;
            Ok(ExitCode::SUCCESS)
        }
        ContactsCmd::Lists => {
            let lists = store.list_counts().await?;
            if ctx.json() {
                print_json(&lists)?;
            } else {
                println!(
                    "{} contacts in all",
                    thousands(store.count_contacts().await? as u64)
                );
                for l in lists {
                    println!("{:<24} {:>10}", l.name, thousands(l.count as u64));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DncCmd {
    /// Add a do-not-contact entry for a phone number, an e-mail address or a contact.
    Add {
        #[arg(long, group = "target")]
        phone: Option<String>,
        #[arg(long, group = "target")]
        email: Option<String>,
        /// External id of a contact.
        #[arg(long, group = "target")]
        contact: Option<String>,
        /// Why (shown by `why` and in reports).
        #[arg(long, default_value = "")]
        reason: String,
        /// Only this channel: sms, email or call [default: every channel].
        #[arg(long)]
        channel: Option<String>,
        /// When the entry lapses: a date (2027-01-31), a date-time, or a duration (90d).
        #[arg(long)]
        expires: Option<String>,
        /// Record it as the person's own opt-out rather than a DNC listing.
        #[arg(long)]
        opt_out: bool,
    },
    /// Import entries from CSV: a phone, email or contact column, optional reason, channel, expires.
    Import {
        file: PathBuf,
        /// Recorded as the entries' source [default: the file name].
        #[arg(long)]
        source: Option<String>,
    },
    /// List entries in force (newest first).
    List {
        /// Include expired entries.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Remove the entries for a phone number, e-mail address or contact.
    Remove {
        #[arg(long, group = "target")]
        phone: Option<String>,
        #[arg(long, group = "target")]
        email: Option<String>,
        #[arg(long, group = "target")]
        contact: Option<String>,
    },
}

pub async fn dnc(ctx: &Ctx, cmd: DncCmd) -> Result<ExitCode> {
    let store = ctx.store().await?;
    let region = ctx.settings.default_region.as_deref();
    match cmd {
        DncCmd::Add {
            phone,
            email,
            contact,
            reason,
            channel,
            expires,
            opt_out,
        } => {
            let kind = if opt_out {
                SuppressionKind::OptOut
            } else {
                SuppressionKind::Dnc
            };
            let entry = import::suppression_entry(
                phone.as_deref(),
                email.as_deref(),
                contact.as_deref(),
                kind,
                channel.as_deref(),
                &reason,
                "cli",
                expires.as_deref(),
                region,
                ctx.now(),
            )
            .map_err(anyhow::Error::msg)?;
            store
                .upsert_suppressions(std::slice::from_ref(&entry))
                .await?;
            println!(
                "added {} entry for {} {}",
                kind.as_str(),
                entry.target.kind(),
                entry.target.masked_value()
            );
            Ok(ExitCode::SUCCESS)
        }
        DncCmd::Import { file, source } => {
            let (input, _) = open_input(&file)?;
            let label = file.display().to_string();
            let source = source.unwrap_or_else(|| {
                file.file_name()
                    .map_or("import".into(), |n| n.to_string_lossy().to_string())
            });
            let report = import::import_suppressions(
                &store,
                input,
                &source,
                region,
                ctx.now(),
                report_row(&label),
            )
            .await?;
            if ctx.json() {
                print_json(&report)?;
            } else {
                println!(
                    "{label}: {} rows read; {} entries written; {} rejected",
                    thousands(report.rows),
                    thousands(report.written.inserted),
                    thousands(report.rejected)
                );
            }
            Ok(if report.rejected > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        DncCmd::List { all, limit } => {
            let entries = store.suppressions(ctx.now(), all, limit).await?;
            if ctx.json() {
                let masked: Vec<_> = entries
                    .iter()
                    .map(|s| serde_json::json!({
                        "kind": s.kind.as_str(), "target": s.target.kind(), "value": s.target.masked_value(),
                        "channel": s.channel.map(|c| c.as_str()), "reason": s.reason, "source": s.source,
                        "created_at": s.created_at, "expires_at": s.expires_at,
                    }))
                    .collect();
                print_json(&masked)?;
            } else {
                println!(
                    "{:<8} {:<8} {:<22} {:<6} {:<24} {:<12} EXPIRES",
                    "KIND", "TARGET", "VALUE", "CHAN", "REASON", "SOURCE"
                );
                for s in entries {
                    println!(
                        "{:<8} {:<8} {:<22} {:<6} {:<24} {:<12} {}",
                        s.kind.as_str(),
                        s.target.kind(),
                        s.target.masked_value(),
                        s.channel.map_or("all", |c| c.as_str()),
                        s.reason,
                        s.source,
                        s.expires_at
                            .map_or("never".into(), |e| e.format("%Y-%m-%d").to_string())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DncCmd::Remove {
            phone,
            email,
            contact,
        } => {
            let entry = import::suppression_entry(
                phone.as_deref(),
                email.as_deref(),
                contact.as_deref(),
                SuppressionKind::Dnc,
                None,
                "",
                "cli",
                None,
                region,
                ctx.now(),
            )
            .map_err(anyhow::Error::msg)?;
            let removed = store
                .delete_suppression(entry.target.kind(), entry.target.value(), None)
                .await?;
            println!(
                "removed {removed} entr{} for {}",
                if removed == 1 { "y" } else { "ies" },
                entry.target.masked_value()
            );
            Ok(if removed > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TagsCmd {
    /// List tags in force with their number of contacts, or one contact's tags.
    List {
        /// External id of a contact.
        #[arg(long)]
        contact: Option<String>,
    },
    /// Tag a contact.
    Add {
        /// External id.
        contact: String,
        tag: String,
        /// When the tag lapses: a date, a date-time, or a duration (30d).
        #[arg(long)]
        expires: Option<String>,
        /// Where the tag came from.
        #[arg(long, default_value = "manual")]
        source: String,
    },
    /// Remove a tag from a contact.
    Remove { contact: String, tag: String },
}

pub async fn tags(ctx: &Ctx, cmd: TagsCmd) -> Result<ExitCode> {
    let store = ctx.store().await?;
    let find = |id: String| {
        let store = &store;
        async move {
            store
                .contact(&id)
                .await?
                .with_context(|| format!("there is no contact with external id `{id}`"))
        }
    };
    match cmd {
        TagsCmd::List { contact: None } => {
            let counts = store.tag_counts(ctx.now()).await?;
            if ctx.json() {
                print_json(&counts)?;
            } else {
                for c in counts {
                    println!("{:<28} {:>10}", c.name, thousands(c.count as u64));
                }
            }
        }
        TagsCmd::List { contact: Some(id) } => {
            let c = find(id).await?;
            if ctx.json() {
                print_json(&c.tags)?;
            } else {
                for t in &c.tags {
                    let until = t.expires_at.map_or("no expiry".into(), |e| {
                        format!("until {}", e.format("%Y-%m-%d %H:%M UTC"))
                    });
                    println!("{:<28} {:<16} {until}", t.name, t.source);
                }
            }
        }
        TagsCmd::Add {
            contact,
            tag,
            expires,
            source,
        } => {
            if !crate::domain::is_name(&tag) {
                bail!("`{tag}` is not a tag name (letters, digits, `_` and `-`)");
            }
            let c = find(contact).await?;
            let expires_at = expires
                .as_deref()
                .map(|e| import::parse_expiry(e, ctx.now()))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            store
                .upsert_tag(
                    c.id,
                    &Tag {
                        name: tag.clone(),
                        source,
                        expires_at,
                    },
                    ctx.now(),
                )
                .await?;
            println!("tagged {} with {tag}", c.external_id);
        }
        TagsCmd::Remove { contact, tag } => {
            let c = find(contact).await?;
            if !store.remove_tag(c.id, &tag, ctx.now()).await? {
                eprintln!("{} has no tag {tag}", c.external_id);
                return Ok(ExitCode::from(1));
            }
            println!("removed {tag} from {}", c.external_id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
