//! `herald export TABLE`: a table's rows as CSV, JSON Lines or Parquet, streamed.
//!
//! Rows go from the database to the file as they are read, so an export of millions of
//! rows runs in flat memory. With `-o FILE` the rows go to a temporary file in the same
//! folder, renamed over FILE only once complete: a failed export never leaves half a
//! file under the name. Data goes to stdout (or the file); the summary and progress to
//! stderr. The columns are documented in `docs/exports.md`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::{Ctx, Format, thousands};
use crate::clock::parse_moment;
use crate::export::{self, Filter, Masking, Table};
use crate::store::{AnyStore, Store};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub table: Table,
    /// Only this campaign's rows (contacts: those with an attempt in it; tags: those its
    /// runs set).
    #[arg(long, value_name = "ID")]
    pub campaign: Option<String>,
    /// Rows from this moment on (`2026-11-26`, `2026-11-26T09:00:00Z`, `now`; UTC), on
    /// the table's own time: attempts created, events occurred, responses answered,
    /// contacts updated, tags set.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Rows before this moment (excluded), on the same time as `--since`.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Write to FILE (replaced only once the export is complete) instead of stdout.
    /// Parquet needs a file.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Mask phone numbers, e-mail addresses and names as the logs do (`+44********56`,
    /// `j***@example.com`, `J***`). Free-text answers and attributes are left as they are.
    #[arg(long)]
    pub mask_pii: bool,
}

/// Runs the export; `format` is the command line's `--format` (CSV when not given).
pub async fn export(ctx: &Ctx, args: &ExportArgs, format: Option<Format>) -> Result<ExitCode> {
    // Everything that can be refused is checked before the database or a file is touched.
    let format = match format {
        None | Some(Format::Csv) => export::Format::Csv,
        Some(Format::Jsonl) => export::Format::Jsonl,
        Some(Format::Parquet) => export::Format::Parquet,
        Some(Format::Table | Format::Json) => {
            bail!("herald export writes files: use --format csv, jsonl or parquet")
        }
    };
    if format == export::Format::Parquet && args.output.is_none() {
        bail!(
            "Parquet needs a file it can seek in: add -o FILE.parquet (or use --format csv|jsonl for stdout)"
        );
    }
    let now = ctx.now();
    let moment = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| parse_moment(t, now))
            .transpose()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("reading {flag}"))
    };
    let since = moment("--since", &args.since)?;
    let until = moment("--until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && u <= s
    {
        bail!("--until ({u}) must come after --since ({s}): the range keeps since <= t < until");
    }
    let filter = Filter {
        campaign: args.campaign.clone(),
        since,
        until,
        now,
    };
    // Opened once as usual (to bring an older schema up to date), then for the long read.
    let url = &ctx.settings.database_url;
    let Some(migrated) = ctx.existing_store().await? else {
        bail!(
            "there is no database at {} yet: nothing to export (run `herald contacts import` or `herald run` first)",
            crate::config::redact_url(url)
        );
    };
    migrated.close().await;
    let store = AnyStore::open_reader(url)
        .await
        .with_context(|| format!("opening the database {}", crate::config::redact_url(url)))?;

    let columns = args.table.columns();
    let target = match &args.output {
        Some(path) => Some(Staged::new(path)?),
        None => None,
    };
    let mut sink = match &target {
        Some(staged) => export::sink(format, columns, staged.writer()?)?,
        None => export::sink(format, columns, std::io::stdout())?,
    };
    let masking = if args.mask_pii {
        Masking::Pii
    } else {
        Masking::Off
    };
    let bar = progress_bar();
    let started = Instant::now();
    let mut seen: u64 = 0;
    let rows = store
        .export_rows(args.table, &filter, &mut |row| {
            masking.apply(columns, row);
            sink.write_row(row)?;
            seen += 1;
            if seen.is_multiple_of(8192)
                && let Some(b) = &bar
            {
                b.set_position(seen);
            }
            Ok(())
        })
        .await
        .with_context(|| format!("exporting {}", args.table.as_str()))?;
    sink.finish()
        .with_context(|| format!("finishing the {} export", args.table.as_str()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let place = match target {
        Some(staged) => staged.commit()?,
        None => "stdout".to_string(),
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "herald: {} rows of {} to {place} in {secs:.1} s ({} rows/s)",
        thousands(rows),
        args.table.as_str(),
        thousands((rows as f64 / secs.max(1e-3)) as u64)
    );
    Ok(ExitCode::SUCCESS)
}

/// A spinner with the row count on stderr, when it is a terminal.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {human_pos} rows ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// An output file written under a temporary name in its folder, renamed when complete.
/// Dropped without [`Staged::commit`], the temporary file is removed.
struct Staged {
    path: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl Staged {
    fn new(path: &Path) -> Result<Staged> {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .with_context(|| format!("{} is not a file name", path.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".partial")
            .tempfile_in(folder)
            .with_context(|| format!("creating a temporary file in {}", folder.display()))?;
        Ok(Staged {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// A second handle on the temporary file for the sink to own.
    fn writer(&self) -> Result<std::fs::File> {
        self.temp
            .as_file()
            .try_clone()
            .context("opening the temporary export file")
    }

    /// Makes the file durable and gives it its name; returns the name for messages.
    fn commit(self) -> Result<String> {
        self.temp
            .as_file()
            .sync_all()
            .context("writing the export to disk")?;
        let shown = self.path.display().to_string();
        self.temp
            .persist(&self.path)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the finished export to {shown}"))?;
        Ok(shown)
    }
}
