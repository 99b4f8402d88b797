//! `herald segment preview FILTER`: how many contacts a filter selects, and a sample of
//! them with the values the filter reads, before a campaign uses it.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, print_json, thousands};
use crate::domain::segment::Segment;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum SegmentCmd {
    /// Count the contacts a filter selects and show a sample of them.
    Preview {
        /// The filter, e.g. `tag.nps_detractor and attr.balance > 100`.
        filter: String,
        /// Only contacts in these lists (repeatable), as a campaign's audience reads them.
        #[arg(long = "list")]
        lists: Vec<String>,
        /// How many matching contacts to show.
        #[arg(long, default_value_t = 10)]
        sample: usize,
    },
}

#[derive(Serialize)]
struct Preview {
    filter: String,
    considered: u64,
    matching: u64,
    /// Tags the filter reads that no contact has (a typo, or a campaign yet to run).
    unknown_tags: Vec<String>,
    unknown_attributes: Vec<String>,
    sample: Vec<SampleRow>,
}

#[derive(Serialize)]
struct SampleRow {
    external_id: String,
    contact: String,
    /// The attributes and tags the filter reads, as this contact has them.
    values: Vec<(String, String)>,
}

pub async fn segment(ctx: &Ctx, cmd: SegmentCmd) -> Result<ExitCode> {
    let SegmentCmd::Preview {
        filter,
        lists,
        sample,
    } = cmd;
    let segment = match Segment::parse(&filter) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("herald: the filter does not parse: {}", e.message);
            eprintln!("  {filter}");
            eprintln!("  {}^", " ".repeat(e.column.saturating_sub(1)));
            return Ok(ExitCode::from(1));
        }
    };
    let store = ctx.store().await?;
    let now = ctx.now();
    let known_tags = store.tag_names().await?;
    let known_attrs = store.attribute_keys().await?;
    let tags = segment.tags();
    let attrs = segment.attributes();
    let mut out = Preview {
        filter: segment.source().to_string(),
        considered: 0,
        matching: 0,
        unknown_tags: tags.difference(&known_tags).cloned().collect(),
        unknown_attributes: attrs.difference(&known_attrs).cloned().collect(),
        sample: Vec::new(),
    };
    let mut after = 0;
    loop {
        let page = store.contacts_page(&lists, after, 1_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for c in &page {
            out.considered += 1;
            if !segment.matches(c, now) {
                continue;
            }
            out.matching += 1;
            if out.sample.len() < sample {
                let mut values: Vec<(String, String)> = attrs
                    .iter()
                    .map(|a| {
                        let v = c.attributes.get(a).map_or("-".into(), |v| v.to_string());
                        (format!("attr.{a}"), v)
                    })
                    .collect();
                values.extend(tags.iter().map(|t| {
                    let v = if c.has_tag(t, now) { "yes" } else { "no" };
                    (format!("tag.{t}"), v.to_string())
                }));
                out.sample.push(SampleRow {
                    external_id: c.external_id.clone(),
                    contact: c.display_masked(),
                    values,
                });
            }
        }
    }
    if ctx.json() {
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let share = if out.considered > 0 {
        100.0 * out.matching as f64 / out.considered as f64
    } else {
        0.0
    };
    println!(
        "{} of {} contacts match ({share:.1}%): {}",
        thousands(out.matching),
        thousands(out.considered),
        out.filter
    );
    for t in &out.unknown_tags {
        match crate::domain::suggest(t, known_tags.iter().map(String::as_str)) {
            Some(s) => println!("warning: no contact has tag `{t}`: did you mean `{s}`?"),
            None => println!("warning: no contact has tag `{t}` yet"),
        }
    }
    for a in &out.unknown_attributes {
        println!("warning: no contact has attribute `{a}`");
    }
    if !out.sample.is_empty() {
        println!();
        for row in &out.sample {
            let values: Vec<String> = row.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("  {:<48} {}", row.contact, values.join("  "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
