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
use crate::domain::values::mask_contact_details;

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
            // The server's reply may quote the address: masked before it is recorded.
            Err(e) if e.is_permanent() => {
                let code = e.status().map(|c| c.to_string());
                Err(permanent(
                    code.as_deref(),
                    mask_contact_details(&e.to_string()),
                ))
            }
            Err(e) => Err(SendError::Temporary(mask_contact_details(&e.to_string()))),
        }
    }
}

/// A 5xx from the SMTP server: a hard bounce (the mailbox or domain does not exist) marks
/// the address as dead; any other refusal (policy, spam, size) fails only this attempt.
///
/// The enhanced status code (RFC 3463) decides when the server sends one: `5.1.x` is
/// about the address (5.1.1 no such user, 5.1.2 no such domain, 5.1.3 bad syntax, 5.1.6
/// moved, 5.1.10 null MX). Without one, the classic 550, 551 and 553 replies are read as
/// bad addresses.
fn permanent(code: Option<&str>, why: String) -> SendError {
    let enhanced = why
        .split(|c: char| {
            c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';' | ':' | '<' | '>' | '[' | ']')
        })
        .find(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            parts.len() == 3
                && matches!(parts[0], "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string);
    let bad_address = match enhanced.as_deref() {
        Some(e) => ["5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"].contains(&e),
        None => matches!(code, Some("550" | "551" | "553")),
    };
    if bad_address {
        SendError::BadAddress(why)
    } else {
        SendError::Permanent(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(code: Option<&str>, why: &str) -> &'static str {
        match permanent(code, why.to_string()) {
            SendError::BadAddress(_) => "bad_address",
            SendError::Permanent(_) => "permanent",
            _ => "other",
        }
    }

    #[test]
    fn hard_bounces_are_told_from_other_refusals() {
        assert_eq!(
            kind(
                Some("550"),
                "permanent error (550): 5.1.1 <x@y>: user unknown"
            ),
            "bad_address"
        );
        assert_eq!(
            kind(Some("550"), "permanent error (550): 5.1.10 null MX"),
            "bad_address"
        );
        assert_eq!(
            kind(
                Some("554"),
                "permanent error (554): 5.1.2 bad destination system"
            ),
            "bad_address"
        );
        assert_eq!(
            kind(
                Some("550"),
                "permanent error (550): 5.7.1 message rejected as spam"
            ),
            "permanent"
        );
        assert_eq!(
            kind(Some("552"), "permanent error (552): 5.3.4 message too big"),
            "permanent"
        );
        assert_eq!(
            kind(Some("550"), "permanent error (550): mailbox unavailable"),
            "bad_address"
        );
        assert_eq!(
            kind(
                Some("553"),
                "permanent error (553): mailbox name not allowed"
            ),
            "bad_address"
        );
        assert_eq!(
            kind(Some("554"), "permanent error (554): transaction failed"),
            "permanent"
        );
        assert_eq!(kind(None, "permanent error: 5.5.2 syntax"), "permanent");
    }
}
