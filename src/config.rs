//! Settings: `herald.toml` (optional) overlaid by `HERALD_*` environment variables and
//! command-line flags, checked into [`Settings`] with every problem reported at once.
//!
//! Relative paths in `herald.toml` are read from the folder that holds it; with no file,
//! from the working directory. The database defaults to `sqlite://herald.db` there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostics::{Diagnostic, parse_strict};
use crate::domain::campaign::CapDef;
use crate::domain::contact::AttributeType;
use crate::domain::policy::ContactPolicy;
use crate::domain::values::{ChannelFamily, TimeZone};
use crate::domain::window::{ContactWindow, MinuteRange};

/// The file `herald.toml`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `sqlite://PATH` (default `sqlite://herald.db`) or `postgres://...`.
    pub database_url: Option<String>,
    /// Folder of campaign definitions (default `jobs`).
    pub jobs_dir: Option<String>,
    /// Folder of message templates (default `templates`).
    pub templates_dir: Option<String>,
    /// Locale used when neither the contact's nor the campaign's has a template (default `en`).
    pub default_locale: Option<String>,
    /// ISO region for phone numbers written without a country code (`GB`, `US`...).
    pub default_region: Option<String>,
    /// Zone for contacts whose zone is neither given nor inferable. Unset: such contacts
    /// are skipped with `unknown_timezone` rather than risk a call at night.
    pub default_timezone: Option<String>,
    /// Contact attributes and their types; undeclared ones are inferred on import.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeType>,
    /// Tags managed outside campaigns (CRM, imports); campaign rules may read them.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub policy: PolicyFile,
    /// Replies that opt a person out (matched case-insensitively against the whole reply or
    /// its first word). Default: STOP, UNSUBSCRIBE, CANCEL, END, QUIT, BAJA, ALTO, ARRET,
    /// 退订, TD and a few more.
    pub opt_out_keywords: Option<Vec<String>>,
    /// How late a missed schedule occurrence may still be run (default `1h`); older ones
    /// are recorded as missed.
    pub catch_up: Option<String>,
    /// Rates of the simulated provider used by `simulate`, the demo and the tests.
    #[serde(default)]
    pub sim: crate::channel::SimConfig,
    /// Base URL of the daemon's HTTP API as recipients reach it, for the links in messages
    /// (default `http://127.0.0.1:8080`).
    pub public_url: Option<String>,
    /// Environment variable holding the secret that signs links and provider callbacks
    /// (default `HERALD_SECRET`).
    pub secret_env: Option<String>,
    /// How e-mail is sent: the simulated provider (default) or SMTP.
    #[serde(default)]
    pub email: EmailFile,
    /// Address the daemon's HTTP API listens on (default `127.0.0.1:8080`).
    pub api_bind: Option<String>,
    /// How SMS are sent: the simulated provider (default) or an HTTP provider.
    #[serde(default)]
    pub sms: crate::channel::HttpProviderConfig,
    /// How voice-bot calls are placed: the simulated provider (default) or an HTTP provider.
    #[serde(default)]
    pub voice_bot: crate::channel::HttpProviderConfig,
    /// How agent calls are placed: `provider = "sim"` (default) or `"desk"` (human agents
    /// pull them with `herald agent next`).
    #[serde(default)]
    pub agent: AgentFile,
}

/// `[agent]`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    /// `sim` or `desk`.
    pub provider: Option<String>,
}

/// `[email]`: `provider = "sim"` (default) or `provider = "smtp"` with the server's settings.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailFile {
    /// `sim` or `smtp`.
    pub provider: Option<String>,
    #[serde(flatten)]
    pub smtp: Option<crate::channel::SmtpConfig>,
}

/// The secret that signs links and callbacks; never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// `[policy]`: the rules above every campaign.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Allowed local hours per channel family (`call`, `sms`, `email`), e.g. `"08:00-21:00"`.
    #[serde(default)]
    pub quiet_hours: BTreeMap<ChannelFamily, String>,
    /// Frequency caps; when given they replace the default caps.
    pub caps: Option<Vec<CapDef>>,
}

/// Checked settings.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub database_url: String,
    pub jobs_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub default_locale: String,
    pub default_region: Option<String>,
    pub default_timezone: Option<TimeZone>,
    pub attributes: BTreeMap<String, AttributeType>,
    pub tags: BTreeSet<String>,
    pub policy: ContactPolicy,
    pub opt_out_keywords: Vec<String>,
    pub catch_up: crate::domain::values::Span,
    pub sim: crate::channel::SimConfig,
    pub public_url: String,
    pub api_bind: std::net::SocketAddr,
    pub secret: Secret,
    /// True when no secret was configured and a fixed development one is used.
    pub secret_is_default: bool,
    /// SMTP settings when e-mail goes through SMTP.
    pub smtp: Option<crate::channel::SmtpConfig>,
    /// Agent calls go to the desk (human agents) rather than the simulated provider.
    pub agent_desk: bool,
    /// The token agents' tools present to the desk API (`HERALD_AGENT_TOKEN`); none: the
    /// desk API is off.
    pub agent_token: Option<Secret>,
    /// The token `/metrics` wants (`HERALD_API_TOKEN`); required when the API listens on
    /// an address other than loopback.
    pub api_token: Option<Secret>,
    /// The most each channel may send across campaigns and daemons (token buckets the
    /// store keeps, taken from at send time).
    pub channel_rates: Vec<(
        crate::domain::values::Channel,
        crate::domain::campaign::RateLimit,
    )>,
    /// HTTP provider settings per channel (SMS, voice bot) when not simulated.
    pub http_providers: Vec<(
        crate::domain::values::Channel,
        crate::channel::HttpProviderConfig,
    )>,
    /// Where each setting came from: `default`, `herald.toml`, `HERALD_...`, `flag`.
    pub sources: BTreeMap<String, String>,
}

/// Values given on the command line, which win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Settings {
    /// Loads `herald.toml` (from `--config`, `HERALD_CONFIG`, or the working directory)
    /// and the environment.
    pub fn load(overrides: &Overrides) -> Result<Settings, Vec<Diagnostic>> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let explicit = overrides
            .config
            .clone()
            .or_else(|| env("HERALD_CONFIG").map(PathBuf::from));
        let path = match explicit {
            Some(p) => {
                if !p.exists() {
                    return Err(vec![
                        Diagnostic::error(
                            p.display().to_string(),
                            "the config file does not exist",
                        )
                        .hint(
                            "create one with `herald init`, or leave out --config / HERALD_CONFIG",
                        ),
                    ]);
                }
                Some(p)
            }
            None => Some(PathBuf::from("herald.toml")).filter(|p| p.exists()),
        };
        let (file, name) = match &path {
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| {
                    vec![Diagnostic::error(
                        &name,
                        format!("cannot read the config file: {e}"),
                    )]
                })?;
                (parse_strict::<ConfigFile>(&name, &text)?.0, name)
            }
            None => (ConfigFile::default(), "herald.toml".to_string()),
        };
        let base = path
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Settings::from_parts(file, &name, path, &base, &env, overrides)
    }

    fn from_parts(
        file: ConfigFile,
        name: &str,
        path: Option<PathBuf>,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Settings, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let mut sources = BTreeMap::new();
        let mut pick = |key: &str,
                        var: &str,
                        flag: Option<String>,
                        from_file: Option<String>,
                        default: &str|
         -> String {
            let (value, source) = if let Some(v) = flag {
                (v, "flag".to_string())
            } else if let Some(v) = env(var) {
                (v, var.to_string())
            } else if let Some(v) = from_file {
                (v, name.to_string())
            } else {
                (default.to_string(), "default".to_string())
            };
            sources.insert(key.to_string(), source);
            value
        };
        let from_file = path.is_some();
        let relative = |p: String| -> PathBuf {
            let pb = PathBuf::from(&p);
            if pb.is_absolute() || !from_file {
                pb
            } else {
                base.join(pb)
            }
        };
        let database_url = pick(
            "database_url",
            "HERALD_DATABASE_URL",
            overrides.database_url.clone(),
            file.database_url.clone(),
            "sqlite://herald.db",
        );
        let database_url = if from_file
            && overrides.database_url.is_none()
            && env("HERALD_DATABASE_URL").is_none()
        {
            match database_url.strip_prefix("sqlite://") {
                Some(p) if !Path::new(p).is_absolute() => {
                    format!("sqlite://{}", base.join(p).display())
                }
                _ => database_url,
            }
        } else {
            database_url
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            problems.push(
                Diagnostic::error(name, "unsupported database URL")
                    .key("database_url")
                    .found(redact_url(&database_url))
                    .expected("sqlite://PATH or postgres://USER@HOST/DB"),
            );
        }
        let jobs_dir = relative(pick(
            "jobs_dir",
            "HERALD_JOBS_DIR",
            None,
            file.jobs_dir.clone(),
            "jobs",
        ));
        let templates_dir = relative(pick(
            "templates_dir",
            "HERALD_TEMPLATES_DIR",
            None,
            file.templates_dir.clone(),
            "templates",
        ));
        let default_locale = pick(
            "default_locale",
            "HERALD_DEFAULT_LOCALE",
            None,
            file.default_locale.clone(),
            "en",
        );
        let region = pick(
            "default_region",
            "HERALD_DEFAULT_REGION",
            None,
            file.default_region.clone(),
            "",
        );
        let default_region = if region.is_empty() {
            None
        } else if region
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .is_err()
        {
            problems.push(
                Diagnostic::error(name, "unknown phone region")
                    .key("default_region")
                    .found(&region)
                    .expected("an ISO 3166 code such as GB, US, FR"),
            );
            None
        } else {
            Some(region.to_ascii_uppercase())
        };
        let tz = pick(
            "default_timezone",
            "HERALD_DEFAULT_TIMEZONE",
            None,
            file.default_timezone.clone(),
            "",
        );
        let default_timezone = if tz.is_empty() {
            None
        } else {
            match TimeZone::parse(&tz) {
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(
                        Diagnostic::error(name, e)
                            .key("default_timezone")
                            .found(&tz),
                    );
                    None
                }
            }
        };
        let mut policy = ContactPolicy::default();
        for (family, hours) in &file.policy.quiet_hours {
            match MinuteRange::parse(hours) {
                Ok(r) => {
                    policy.quiet_hours.insert(*family, ContactWindow::daily(r));
                }
                Err(e) => problems.push(
                    Diagnostic::error(name, e)
                        .key(format!("policy.quiet_hours.{}", family.as_str())),
                ),
            }
        }
        if let Some(caps) = &file.policy.caps {
            let def = crate::domain::campaign::CampaignDef::caps_only(caps.clone());
            match def {
                Ok(c) => policy.caps = c,
                Err(errors) => {
                    problems.extend(errors.into_iter().map(|e| {
                        Diagnostic::error(name, e.message).key(format!("policy.{}", e.path))
                    }))
                }
            }
        }
        let smtp = match file.email.provider.as_deref().unwrap_or("sim") {
            "sim" => None,
            "smtp" => match &file.email.smtp {
                Some(c) if !c.host.is_empty() => Some(c.clone()),
                _ => {
                    problems.push(
                        Diagnostic::error(name, "SMTP e-mail needs the server")
                            .key("email.host")
                            .hint("add `host` and `from` under [email]"),
                    );
                    None
                }
            },
            other => {
                problems.push(
                    Diagnostic::error(name, "unknown e-mail provider")
                        .key("email.provider")
                        .found(other)
                        .expected("sim or smtp"),
                );
                None
            }
        };
        let mut http_providers = Vec::new();
        let mut channel_rates = Vec::new();
        for (channel, cfg) in [
            (crate::domain::values::Channel::Sms, &file.sms),
            (crate::domain::values::Channel::VoiceBot, &file.voice_bot),
        ] {
            if let Some(rate) = &cfg.rate {
                match crate::domain::campaign::RateLimit::parse(rate) {
                    Ok(r) => channel_rates.push((channel, r)),
                    Err(e) => {
                        problems.push(Diagnostic::error(name, e).key(format!("{channel}.rate")))
                    }
                }
            }
        }
        for (channel, cfg) in [
            (crate::domain::values::Channel::Sms, &file.sms),
            (crate::domain::values::Channel::VoiceBot, &file.voice_bot),
        ] {
            match cfg.provider.as_deref().unwrap_or("sim") {
                "sim" => {}
                "http" if cfg.url.is_some() => http_providers.push((channel, cfg.clone())),
                "http" => problems.push(
                    Diagnostic::error(name, "an HTTP provider needs its URL")
                        .key(format!("{channel}.url")),
                ),
                other => problems.push(
                    Diagnostic::error(name, "unknown provider")
                        .key(format!("{channel}.provider"))
                        .found(other)
                        .expected("sim or http"),
                ),
            }
        }
        let agent_desk = match file.agent.provider.as_deref().unwrap_or("sim") {
            "sim" => false,
            "desk" => true,
            other => {
                problems.push(
                    Diagnostic::error(name, "unknown agent provider")
                        .key("agent.provider")
                        .found(other)
                        .expected("sim or desk"),
                );
                false
            }
        };
        let secret_var = file
            .secret_env
            .clone()
            .unwrap_or_else(|| "HERALD_SECRET".into());
        let (secret, secret_is_default) = match env(&secret_var) {
            Some(s) if s.len() >= 16 => (Secret(s.into_bytes()), false),
            Some(_) => {
                problems.push(
                    Diagnostic::error(name, format!("${secret_var} is too short to sign links"))
                        .key("secret_env")
                        .expected("at least 16 characters"),
                );
                (Secret(Vec::new()), false)
            }
            None => (
                Secret(b"herald-development-secret-change-me".to_vec()),
                true,
            ),
        };
        let bind = pick(
            "api_bind",
            "HERALD_API_BIND",
            None,
            file.api_bind.clone(),
            "127.0.0.1:8080",
        );
        let api_bind = bind.parse::<std::net::SocketAddr>().unwrap_or_else(|_| {
            problems.push(
                Diagnostic::error(name, "not an address to listen on")
                    .key("api_bind")
                    .found(&bind)
                    .expected("HOST:PORT, e.g. 127.0.0.1:8080"),
            );
            std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let public_url = file
            .public_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim_end_matches('/')
            .to_string();
        let catch_up = match file
            .catch_up
            .as_deref()
            .map(crate::domain::values::Span::parse)
        {
            None => crate::domain::values::Span::from_secs(3600),
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                problems.push(Diagnostic::error(name, e).key("catch_up"));
                crate::domain::values::Span::from_secs(0)
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            opt_out_keywords: file.opt_out_keywords.clone().unwrap_or_else(|| {
                crate::domain::ledger::OPT_OUT_KEYWORDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            catch_up,
            sim: file.sim.clone(),
            public_url,
            api_bind,
            secret,
            secret_is_default,
            smtp,
            http_providers,
            channel_rates,
            agent_desk,
            agent_token: env("HERALD_AGENT_TOKEN").map(|t| Secret(t.into_bytes())),
            api_token: env("HERALD_API_TOKEN").map(|t| Secret(t.into_bytes())),
            config_file: path,
            database_url,
            jobs_dir,
            templates_dir,
            default_locale,
            default_region,
            default_timezone,
            attributes: file.attributes,
            tags: file.tags.into_iter().collect(),
            policy,
            sources,
        })
    }
}

/// A database URL with any password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::from_parts(
            ConfigFile::default(),
            "herald.toml",
            None,
            Path::new("."),
            &no_env,
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.database_url, "sqlite://herald.db");
        assert_eq!(s.default_locale, "en");
        assert_eq!(s.sources["database_url"], "default");
    }

    #[test]
    fn environment_beats_the_file_and_flags_beat_both() {
        let file = ConfigFile {
            database_url: Some("sqlite://a.db".into()),
            default_locale: Some("fr".into()),
            ..Default::default()
        };
        let env = |k: &str| match k {
            "HERALD_DATABASE_URL" => Some("sqlite://b.db".to_string()),
            _ => None,
        };
        let s = Settings::from_parts(
            file,
            "herald.toml",
            None,
            Path::new("."),
            &env,
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            (s.database_url.as_str(), s.default_locale.as_str()),
            ("sqlite://b.db", "fr")
        );
        let flags = Overrides {
            database_url: Some("sqlite://c.db".into()),
            ..Default::default()
        };
        let s = Settings::from_parts(
            ConfigFile::default(),
            "herald.toml",
            None,
            Path::new("."),
            &env,
            &flags,
        )
        .unwrap();
        assert_eq!(s.database_url, "sqlite://c.db");
    }

    #[test]
    fn every_bad_setting_is_reported() {
        let file = ConfigFile {
            database_url: Some("mysql://x".into()),
            default_timezone: Some("Mars/Olympus".into()),
            default_region: Some("XX".into()),
            ..Default::default()
        };
        let errors = Settings::from_parts(
            file,
            "herald.toml",
            None,
            Path::new("."),
            &no_env,
            &Overrides::default(),
        )
        .unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["database_url", "default_region", "default_timezone"]
        );
    }

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_url("postgres://bob:secret@db/x"),
            "postgres://bob:***@db/x"
        );
        assert_eq!(redact_url("sqlite://herald.db"), "sqlite://herald.db");
    }
}
