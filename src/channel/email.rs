//! E-mail through SMTP (lettre, pooled): a text part and, when the template has one, an
//! HTML part; `List-Unsubscribe` with one-click (RFC 8058) pointing at the daemon's signed
//! unsubscribe link; the Message-ID made from the attempt's idempotency key, so a message
//! sent again after a crash carries the same id.
//!
//! The SMTP server's acceptance closes the attempt as `delivered` (accepted for delivery);
//! bounces arrive later as provider events. A 4xx reply is a temporary failure, a 5xx reply
//! a permanent one.

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::{Outbound, Receipt, SendError};
use crate::domain::ledger::Report;
use crate::domain::outcome::Outcome;

/// `[email]` in herald.toml when `provider = "smtp"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default 587 with STARTTLS, 465 with TLS, 25 without.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none` (a relay on localhost).
    pub tls: Option<String>,
    /// The sender, `Name <address>`.
    pub from: String,
    pub username: Option<String>,
    /// Environment variable that holds the password (never the password itself).
    pub password_env: Option<String>,
    /// Connections kept open (default 4).
    pub pool_size: Option<u32>,
}

#[derive(Clone, Debug)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone, Debug)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// A pooled SMTP connection to one server.
#[derive(Clone)]
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpProvider")
            .field("from", &self.from.email.to_string())
            .finish()
    }
}

impl SmtpProvider {
    pub fn new(config: &SmtpConfig) -> Result<SmtpProvider, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("email.from `{}` is not a mailbox: {e}", config.from))?;
        let tls = config.tls.as_deref().unwrap_or("starttls");
        let mut builder = match tls {
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| e.to_string())?,
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| e.to_string())?,
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            other => {
                return Err(format!(
                    "email.tls `{other}`: expected starttls, tls or none"
                ));
            }
        };
        let default_port = match tls {
            "tls" => 465,
            "none" => 25,
            _ => 587,
        };
        builder = builder.port(config.port.unwrap_or(default_port));
        if let Some(user) = &config.username {
            let var = config
                .password_env
                .as_deref()
                .unwrap_or("HERALD_SMTP_PASSWORD");
            let password = std::env::var(var)
                .map_err(|_| format!("email.username is set but ${var} (the password) is not"))?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let pool =
            lettre::transport::smtp::PoolConfig::new().max_size(config.pool_size.unwrap_or(4));
        let domain = from.email.domain().to_string();
        Ok(SmtpProvider {
            transport: builder.pool_config(pool).build(),
            from,
            domain,
        })
    }

    /// Can the server be reached (for `doctor`)?
    pub async fn test_connection(&self) -> Result<bool, String> {
        self.transport
            .test_connection()
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn send(
        &self,
        out: &Outbound<'_>,
        unsubscribe_url: &str,
        now: DateTime<Utc>,
    ) -> Result<Receipt, SendError> {
        let key = out.attempt.idempotency_key.as_str();
        let to = out
            .contact
            .email
            .as_ref()
            .ok_or_else(|| SendError::Permanent("the contact has no e-mail address".into()))?;
        let rendered = out
            .message
            .ok_or_else(|| SendError::Permanent("an e-mail step needs a template".into()))?;
        let name = [
            out.contact.first_name.as_deref(),
            out.contact.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let to_box = Mailbox::new(
            (!name.is_empty()).then_some(name),
            to.as_str()
                .parse()
                .map_err(|e| SendError::Permanent(format!("address: {e}")))?,
        );
        let message_id = format!("<{key}@{}>", self.domain);
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(rendered.subject.clone().unwrap_or_default())
            .message_id(Some(message_id.clone()))
            .header(ListUnsubscribe(format!("<{unsubscribe_url}>")))
            .header(ListUnsubscribePost);
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(rendered.text.clone());
        let message = match &rendered.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        }
        .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Receipt {
                provider_ref: message_id,
                later: vec![(
                    format!("{key}:accepted"),
                    Report::Outcome {
                        outcome: Outcome::Delivered,
                        detail: Some("accepted by the SMTP server".into()),
                    },
                    now,
                )],
            }),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Temporary(e.to_string())),
        }
    }
}
