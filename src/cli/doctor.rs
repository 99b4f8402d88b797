//! `herald doctor`: is this installation ready to run? Each check says what it found and,
//! when something is wrong, what to do.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::{Ctx, print_json};
use crate::store::ExtensionStatus;
use crate::store::Store;

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    /// Works, but not as it should in production.
    warning: bool,
    detail: String,
}

pub async fn doctor(ctx: &Ctx) -> Result<ExitCode> {
    let s = &ctx.settings;
    let mut checks = Vec::new();
    let mut check = |name, ok, warning, detail: String| {
        checks.push(Check {
            name,
            ok,
            warning,
            detail,
        })
    };
    check(
        "config",
        true,
        false,
        s.config_file.as_ref().map_or(
            "no herald.toml: defaults and HERALD_* variables".into(),
            |p| format!("{} loaded", p.display()),
        ),
    );
    // Opening migrates, as every command does: a migration that cannot apply shows here.
    match ctx.store().await {
        Ok(store) => {
            let (applied, available) = store.migration_counts().await;
            let available = available as i64;
            if !store.single_writer() {
                postgres_check(&store, &mut check).await;
            }
            daemons_check(&store, ctx.now(), &mut check).await;
            check(
                "database",
                true,
                false,
                format!(
                    "{} opens; {} contacts",
                    crate::config::redact_url(&s.database_url),
                    store.count_contacts().await.unwrap_or(0)
                ),
            );
            check(
                "migrations",
                applied == available,
                false,
                if applied == available {
                    format!("{applied} of {available} applied")
                } else {
                    format!("{applied} of {available} applied: run `herald migrate`")
                },
            );
        }
        Err(e) => check(
            "database",
            false,
            false,
            format!("{e}: check database_url / HERALD_DATABASE_URL"),
        ),
    }
    match ctx.catalog(&[]).await {
        Ok(catalog) => check(
            "campaigns",
            catalog.errors() == 0,
            false,
            format!(
                "{} valid, {} broken{}",
                catalog.campaigns.len(),
                catalog.broken.len(),
                if catalog.errors() > 0 {
                    ": run `herald validate`"
                } else {
                    ""
                }
            ),
        ),
        Err(e) => check("campaigns", false, false, format!("{e:#}")),
    }
    match &s.smtp {
        None => check(
            "email",
            true,
            false,
            "simulated provider (set [email] provider = \"smtp\" to send real mail)".into(),
        ),
        Some(cfg) => match crate::channel::SmtpProvider::new(cfg) {
            Err(e) => check("email", false, false, e),
            Ok(p) => match p.test_connection().await {
                Ok(true) => check(
                    "email",
                    true,
                    false,
                    format!("SMTP server {} answers", cfg.host),
                ),
                Ok(false) | Err(_) => check(
                    "email",
                    false,
                    false,
                    format!(
                        "SMTP server {} does not answer: check host, port and tls",
                        cfg.host
                    ),
                ),
            },
        },
    }
    for (channel, cfg) in &s.http_providers {
        let url = cfg.url.clone().unwrap_or_default();
        let reachable = match reqwest::Url::parse(&url) {
            Ok(u) => match (u.host_str(), u.port_or_known_default()) {
                (Some(host), Some(port)) => tokio::time::timeout(
                    std::time::Duration::from_secs(3),
                    tokio::net::TcpStream::connect((host, port)),
                )
                .await
                .is_ok_and(|r| r.is_ok()),
                _ => false,
            },
            Err(_) => false,
        };
        let name = if *channel == crate::domain::values::Channel::Sms {
            "sms"
        } else {
            "voice_bot"
        };
        check(
            name,
            reachable,
            false,
            if reachable {
                format!("HTTP provider at {url} answers")
            } else {
                format!("HTTP provider at {url} does not answer: check [{name}] url")
            },
        );
    }
    check(
        "secret",
        true,
        s.secret_is_default,
        if s.secret_is_default {
            "no secret set: links and callbacks use a development secret; set HERALD_SECRET (16+ characters)".into()
        } else {
            "set".into()
        },
    );
    let bind_free = tokio::net::TcpListener::bind(s.api_bind).await.is_ok();
    check(
        "api",
        bind_free,
        false,
        if bind_free {
            format!("{} is free to listen on", s.api_bind)
        } else {
            format!("{} is in use (a daemon running?)", s.api_bind)
        },
    );
    let ok = checks.iter().all(|c| c.ok);
    if ctx.json() {
        print_json(&serde_json::json!({ "ok": ok, "checks": checks }))?;
    } else {
        for c in &checks {
            let mark = match (c.ok, c.warning) {
                (false, _) => "ERR ",
                (true, true) => "WARN",
                (true, false) => "ok  ",
            };
            println!("{mark} {:<11} {}", c.name, c.detail);
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The oldest PostgreSQL herald is tested with: identity columns, `jsonb`, `SKIP LOCKED`
/// and multi-array `UNNEST` are older than it.
const MIN_POSTGRES: i64 = 120_000;

/// The daemons that share the database, and whether they are alive.
async fn daemons_check(
    store: &crate::store::AnyStore,
    now: chrono::DateTime<chrono::Utc>,
    check: &mut impl FnMut(&'static str, bool, bool, String),
) {
    use crate::store::Store as _;
    let Ok(daemons) = store.daemons().await else {
        return;
    };
    let alive = |d: &crate::store::Daemon| now - d.seen_at < crate::engine::DAEMON_SILENCE;
    let live: Vec<String> = daemons
        .iter()
        .filter(|d| alive(d))
        .map(|d| format!("{} (pid {} on {})", d.id, d.pid, d.host))
        .collect();
    let silent = daemons.iter().filter(|d| !alive(d)).count();
    check(
        "daemons",
        true,
        false,
        match (live.len(), silent) {
            (0, 0) => "none running".into(),
            (_, 0) => format!("{} running: {}", live.len(), live.join(", ")),
            (_, _) => format!(
                "{} running{}{}; {silent} stopped without saying so (their claims are taken over)",
                live.len(),
                if live.is_empty() { "" } else { ": " },
                live.join(", ")
            ),
        },
    );
}

/// The server's version, and the extension the daemon's queue needs (`hstore`, used by
/// apalis's jobs table); herald's own tables need none.
async fn postgres_check(
    store: &crate::store::AnyStore,
    check: &mut impl FnMut(&'static str, bool, bool, String),
) {
    match store.server_version().await {
        Ok(version) => {
            let ok = version.number >= MIN_POSTGRES;
            check(
                "postgres",
                ok,
                false,
                if ok {
                    format!("server {}", version.text)
                } else {
                    format!(
                        "server {} is older than PostgreSQL 12, which herald needs",
                        version.text
                    )
                },
            );
        }
        Err(e) => check(
            "postgres",
            false,
            false,
            format!("cannot read the server version: {e}"),
        ),
    }
    match store.queue_extension().await {
        Ok(Some(ExtensionStatus::Installed(version))) => check(
            "extensions",
            true,
            false,
            format!("hstore {version} installed (the daemon's queue uses it)"),
        ),
        Ok(Some(ExtensionStatus::Available)) => check(
            "extensions",
            true,
            true,
            "hstore is available and not installed yet: the first daemon creates it, which \
             needs a role allowed to (the database owner on PostgreSQL 13+, a superuser before)"
                .into(),
        ),
        Ok(Some(ExtensionStatus::Missing)) => check(
            "extensions",
            false,
            false,
            "the server lacks the hstore extension the daemon's queue needs: install the \
             server's contrib package (Debian: postgresql-contrib)"
                .into(),
        ),
        Ok(None) => {}
        Err(e) => check(
            "extensions",
            false,
            false,
            format!("cannot read the server's extensions: {e}"),
        ),
    }
}
