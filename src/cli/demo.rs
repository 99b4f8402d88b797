//! `herald demo`: the example campaigns over a few thousand generated contacts, in a
//! fresh SQLite database, from any folder, in seconds.
//!
//! The sample is deterministic for a seed: several countries and time zones, three
//! locales, some contacts opted out, some on the DNC list, a few broken rows so the import
//! report has something to say.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use chrono::{Duration, NaiveDate};
use clap::Args;

use super::{Format, print_json, thousands};
use crate::catalog::{Catalog, Known};
use crate::clock::VirtualClock;
use crate::clock::{Clock, SystemClock};
use crate::config::{Overrides, Settings};
use crate::domain::contact::SuppressionKind;
use crate::engine::{Engine, Scope};
use crate::import::{self, ContactImport};
use crate::planning;
use crate::store::Store;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's files and database [default: a new temporary folder].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How many sample contacts to generate.
    #[arg(long, default_value_t = 3000)]
    pub contacts: usize,
    /// Seed for the sample data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated days to run the campaigns for after planning (0: plans only).
    #[arg(long, default_value_t = 14)]
    pub days: i64,
}

/// A small deterministic generator (SplitMix64): the same seed gives the same contacts.
pub struct SampleRng(u64);

impl SampleRng {
    pub fn new(seed: u64) -> SampleRng {
        SampleRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

struct Country {
    prefix: &'static str,
    digits: usize,
    zones: &'static [&'static str],
    locale: &'static str,
    cities: &'static [&'static str],
    weight: u64,
}

const COUNTRIES: &[Country] = &[
    Country {
        prefix: "+447400",
        digits: 6,
        zones: &["Europe/London"],
        locale: "en-GB",
        cities: &["London", "Leeds", "Bristol", "Glasgow"],
        weight: 45,
    },
    Country {
        prefix: "+34612",
        digits: 6,
        zones: &["Europe/Madrid", "Atlantic/Canary"],
        locale: "es-ES",
        cities: &["Madrid", "Sevilla", "Las Palmas"],
        weight: 20,
    },
    Country {
        prefix: "+1212",
        digits: 7,
        zones: &["America/New_York"],
        locale: "en-US",
        cities: &["New York"],
        weight: 10,
    },
    Country {
        prefix: "+1312",
        digits: 7,
        zones: &["America/Chicago"],
        locale: "en-US",
        cities: &["Chicago"],
        weight: 5,
    },
    Country {
        prefix: "+1415",
        digits: 7,
        zones: &["America/Los_Angeles"],
        locale: "en-US",
        cities: &["San Francisco"],
        weight: 5,
    },
    Country {
        prefix: "+5255",
        digits: 8,
        zones: &["America/Mexico_City"],
        locale: "es-MX",
        cities: &["Ciudad de México"],
        weight: 10,
    },
    Country {
        prefix: "+33612",
        digits: 6,
        zones: &["Europe/Paris"],
        locale: "fr-FR",
        cities: &["Paris", "Lyon"],
        weight: 5,
    },
];

const FIRST: &[&str] = &[
    "Amelia", "Oliver", "Lucía", "Hugo", "Sofía", "Noah", "Chloé", "Liam", "Emma", "Mateo",
    "Olivia", "Léa", "James", "Zoë", "Ava", "Daniel",
];
const LAST: &[&str] = &[
    "Smith",
    "García",
    "Johnson",
    "Martin",
    "Brown",
    "López",
    "Dubois",
    "Taylor",
    "Hernández",
    "Wilson",
    "Moreau",
    "Davies",
];

/// Writes the sample CSV files into `dir`: everyone, the overdue accounts and the repairs.
/// Returns (contacts file, overdue file, repairs file, phones to put on the DNC list,
/// external ids that opted out of SMS).
#[allow(clippy::type_complexity)]
pub fn write_sample(
    dir: &Path,
    count: usize,
    seed: u64,
    today: NaiveDate,
) -> Result<(PathBuf, PathBuf, PathBuf, Vec<String>, Vec<String>)> {
    let mut rng = SampleRng::new(seed);
    let total_weight: u64 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut people = String::from(
        "external_id,first_name,last_name,phone,email,locale,timezone,consent_sms,consent_email,consent_call,plan,city\n",
    );
    let mut overdue = String::from("external_id,balance,due_date,debt_id\n");
    let mut repairs = String::from("external_id,repair_date,tags\n");
    let (mut dnc, mut opted_out) = (Vec::new(), Vec::new());
    for i in 0..count {
        let id = format!("C{:05}", i + 1);
        let mut w = rng.below(total_weight);
        let country = COUNTRIES
            .iter()
            .find(|c| {
                if w < c.weight {
                    true
                } else {
                    w -= c.weight;
                    false
                }
            })
            .expect("weights add up");
        let first = *rng.pick(FIRST);
        let last = *rng.pick(LAST);
        // Subscriber numbers never start with 0 or 1 in these plans.
        let number: String = (0..country.digits)
            .map(|d| {
                char::from(
                    b'0' + if d == 0 {
                        2 + rng.below(8)
                    } else {
                        rng.below(10)
                    } as u8,
                )
            })
            .collect();
        let phone = if rng.chance(0.93) {
            format!("{}{number}", country.prefix)
        } else {
            String::new()
        };
        let email = if rng.chance(0.8) || phone.is_empty() {
            format!("{}.{}{}@example.com", ascii(first), ascii(last), i)
        } else {
            String::new()
        };
        // Spain and the US span several zones: the file says which; elsewhere herald infers it.
        let zone = if country.zones.len() > 1
            || country.prefix.starts_with("+1")
            || country.prefix.starts_with("+52")
        {
            (*rng.pick(country.zones)).to_string()
        } else {
            String::new()
        };
        let consent = |rng: &mut SampleRng, yes: f64| {
            if rng.chance(0.04) {
                "denied"
            } else if rng.chance(yes) {
                "granted"
            } else {
                "unknown"
            }
        };
        let (cs, ce, cc) = (
            consent(&mut rng, 0.5),
            consent(&mut rng, 0.6),
            consent(&mut rng, 0.4),
        );
        let plan = *rng.pick(&["basic", "standard", "premium"]);
        let city = *rng.pick(country.cities);
        let _ = writeln!(
            people,
            "{id},{first},{last},{phone},{email},{},{zone},{cs},{ce},{cc},{plan},{city}",
            country.locale
        );
        if rng.chance(0.4) {
            let balance = if rng.chance(0.15) {
                1000 + rng.below(4000)
            } else {
                20 + rng.below(900)
            };
            let due = today - Duration::days(5 + rng.below(60) as i64);
            let _ = writeln!(
                overdue,
                "{id},{balance}.{:02},{due},D{:06}",
                rng.below(100),
                100_000 + i
            );
        }
        if rng.chance(0.25) {
            let date = today - Duration::days(1 + rng.below(6) as i64);
            let _ = writeln!(repairs, "{id},{date},repair_completed");
        }
        if !phone.is_empty() && rng.chance(0.02) {
            dnc.push(phone.clone());
        }
        if rng.chance(0.02) {
            opted_out.push(id.clone());
        }
    }
    // Rows a real CRM export would have: the import reports them by line and goes on.
    people.push_str("C99001,Broken,Phone,12345,,en,,,,,basic,London\n");
    people.push_str(",No,Id,+447400999999,,en,,,,,basic,London\n");
    people.push_str("C99003,Bad,Zone,+447400999998,,en,Europe/Lundon,,,,basic,London\n");
    let files = (
        dir.join("contacts.csv"),
        dir.join("overdue.csv"),
        dir.join("repairs.csv"),
    );
    std::fs::write(&files.0, people)?;
    std::fs::write(&files.1, overdue)?;
    std::fs::write(&files.2, repairs)?;
    Ok((files.0, files.1, files.2, dnc, opted_out))
}

fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' => 'a',
            'é' | 'è' | 'ë' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

pub async fn run(args: &DemoArgs, format: Format) -> Result<ExitCode> {
    let clock = SystemClock;
    let now = clock.now();
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new()
            .prefix("herald-demo-")
            .tempdir()?
            .keep(),
    };
    let say = |s: &str| {
        if format == Format::Table {
            println!("{s}");
        }
    };
    say(&format!("herald demo in {}\n", dir.display()));
    crate::examples::write_all(&dir, true)?;
    let settings = Settings::load(&Overrides {
        config: Some(dir.join("herald.toml")),
        database_url: None,
    })
    .map_err(|problems| {
        anyhow::anyhow!(
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let db = dir.join("herald.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    // The demo's data is throwaway: no waiting for the disk on commit.
    let store = crate::store::SqliteStore::open_scratch(&settings.database_url).await?;
    store.migrate().await?;

    // 1. Contacts, in three files: everyone, then the overdue and repair lists.
    let (people, overdue, repairs, dnc, opted_out) =
        write_sample(&dir, args.contacts, args.seed, now.date_naive())?;
    let mut rejected = Vec::new();
    let base = ContactImport {
        list: None,
        default_region: settings.default_region.clone(),
        attributes: settings.attributes.clone(),
    };
    let mut imports = Vec::new();
    for (file, list) in [
        (&people, None),
        (&overdue, Some("overdue")),
        (&repairs, Some("repairs")),
    ] {
        let options = ContactImport {
            list: list.map(str::to_string),
            ..base.clone()
        };
        let input = std::io::BufReader::new(std::fs::File::open(file)?);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let report = import::import_contacts(
            &store,
            input,
            &options,
            now,
            |e| rejected.push(format!("{name}:{}: {}", e.line, e.reason)),
            |_| {},
        )
        .await?;
        say(&format!(
            "imported {name:<13} {:>6} rows: {} new, {} updated, {} rejected{}",
            thousands(report.rows),
            thousands(report.written.inserted),
            thousands(report.written.updated),
            report.rejected,
            list.map(|l| format!("  → list {l}")).unwrap_or_default()
        ));
        imports.push((name, report));
    }
    for r in rejected.iter().take(5) {
        say(&format!("  rejected {r}"));
    }
    if rejected.len() > 5 {
        say(&format!("  … and {} more", rejected.len() - 5));
    }

    // 2. Suppressions: DNC listings and SMS opt-outs.
    let mut entries = Vec::new();
    for phone in &dnc {
        entries.push(
            import::suppression_entry(
                Some(phone),
                None,
                None,
                SuppressionKind::Dnc,
                None,
                "national DNC register",
                "demo",
                None,
                None,
                now,
            )
            .map_err(anyhow::Error::msg)?,
        );
    }
    for id in &opted_out {
        entries.push(
            import::suppression_entry(
                None,
                None,
                Some(id),
                SuppressionKind::OptOut,
                Some("sms"),
                "replied STOP",
                "demo",
                None,
                None,
                now,
            )
            .map_err(anyhow::Error::msg)?,
        );
    }
    store.upsert_suppressions(&entries).await?;
    say(&format!(
        "suppressed {} phone numbers (DNC) and {} SMS opt-outs\n",
        dnc.len(),
        opted_out.len()
    ));

    // 3. Validate the definitions and templates together.
    let known = Known {
        attributes: store.attribute_keys().await?,
        tags: store.tag_names().await?,
    };
    let catalog = Catalog::load(std::slice::from_ref(&settings.jobs_dir), &settings, &known);
    for d in &catalog.diagnostics {
        say(&format!("{d}\n"));
    }
    say(&format!(
        "validated {} campaigns: {} errors\n",
        catalog.campaigns.len(),
        catalog.errors()
    ));

    let diagnostics = catalog.diagnostics.clone();
    // 4. Dry-run plans at each campaign's next occurrence.
    let mut plans = Vec::new();
    for loaded in &catalog.campaigns {
        let campaign = &loaded.campaign;
        let at = planning::run_moment(campaign, None, now).unwrap_or(now);
        let summary = planning::dry_run(&store, campaign, &settings, at).await?;
        if format == Format::Table {
            println!(
                "{}",
                super::plan::render_plan(&summary, &campaign.name, campaign.schedule.timezone())
            );
        }
        plans.push(summary);
    }
    // 5. The campaigns end to end over simulated days, against the simulated provider.
    let ids: Vec<String> = catalog
        .campaigns
        .iter()
        .map(|c| c.campaign.id.clone())
        .collect();
    let campaigns: Vec<_> = catalog
        .campaigns
        .iter()
        .map(|c| c.campaign.clone())
        .collect();
    let errors = catalog.errors();
    let clock = VirtualClock::new(now);
    let engine = Engine::simulated(
        store,
        catalog,
        settings.clone(),
        Arc::new(clock.clone()),
        Scope::All,
    );
    if args.days > 0 {
        say(&format!(
            "Running {} over {} simulated days (virtual clock, simulated providers)...\n",
            ids.join(", "),
            args.days
        ));
        engine
            .simulate(&clock, now + chrono::Duration::days(args.days))
            .await?;
    }
    let mut reports = Vec::new();
    for campaign in &campaigns {
        let stats = engine
            .store
            .campaign_stats(&campaign.id, &super::run::conversions(campaign.kind))
            .await?;
        if format == Format::Table && args.days > 0 {
            println!(
                "Report for {} ({}) after {} days:",
                campaign.id, campaign.name, args.days
            );
            println!("{}", super::run::render_stats(campaign, &stats, &settings));
        }
        reports.push(serde_json::json!({ "campaign": campaign.id, "stats": stats }));
    }
    if format == Format::Json {
        print_json(&serde_json::json!({
            "dir": dir, "imports": imports, "rejected": rejected, "diagnostics": diagnostics,
            "plans": plans, "reports": reports,
        }))?;
    } else {
        println!("Try next (from {}):", dir.display());
        println!(
            "  herald why C00001 collections_reminder     # one contact's story, with what happened"
        );
        println!("  herald runs list");
        println!(
            "  herald report nps_after_repair --html nps.html   # NPS with its margin, charts in one page"
        );
        println!(
            "  herald report collections_reminder           # the A/B test of the first SMS and its holdout"
        );
        println!(
            "  herald segment preview 'tag.nps_detractor'   # who the callback campaign calls"
        );
        println!(
            "  herald simulate winter_promotion --days 7   # a forecast on a copy of the data"
        );
        println!("  herald template preview payment_reminder --contact C00002");
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
