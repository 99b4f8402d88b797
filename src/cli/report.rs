//! `report`: a campaign's funnel, rates, survey scores, breakdowns and A/B results, as
//! text, JSON (`--format json`) or a self-contained HTML page (`--html FILE`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;

use super::{Ctx, print_json};
use crate::export::html::render_html;
use crate::export::report::{SegmentBy, gather, render_text};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Campaign id (the definition's file name without `.toml`).
    pub campaign: String,
    /// Report one run instead of every run of the campaign.
    #[arg(long, value_name = "N")]
    pub run: Option<i64>,
    /// Group the segment breakdown by a contact attribute (`attr.city`) instead of by
    /// audience list.
    #[arg(long, value_name = "attr.NAME")]
    pub by: Option<String>,
    /// Also write the report as one HTML page with charts (no network needed to open it).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub async fn report(ctx: &Ctx, args: &ReportArgs) -> Result<ExitCode> {
    let by = match &args.by {
        Some(text) => SegmentBy::parse(text).map_err(anyhow::Error::msg)?,
        None => SegmentBy::List,
    };
    let campaign = ctx.campaign(&args.campaign).await?;
    let store = ctx.store().await?;
    let report = gather(&store, &campaign, args.run, &by, ctx.now())
        .await
        .with_context(|| format!("gathering the report of `{}`", campaign.id))?;
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(&report))
            .with_context(|| format!("writing the HTML report to {}", path.display()))?;
        eprintln!("herald: HTML report written to {}", path.display());
    }
    if ctx.json() {
        print_json(&report)?;
    } else {
        print!("{}", render_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}
