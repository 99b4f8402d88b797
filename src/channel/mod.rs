//! Channels: how an attempt leaves herald. One `send` per provider kind, chosen by
//! configuration; the engine sees only [`Provider`].
//!
//! Every send carries the attempt's idempotency key, so a repeat after a crash is
//! recognised by the provider and sent once.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::contact::Contact;
use crate::domain::ledger::{Attempt, Report};
use crate::templates::Rendered;

pub mod breaker;
pub mod email;
pub mod http;
pub mod sim;

pub use email::{SmtpConfig, SmtpProvider};
pub use http::{HttpProvider, HttpProviderConfig};
pub use sim::{SimConfig, SimProvider};

/// What goes out for one attempt.
#[derive(Clone, Debug)]
pub struct Outbound<'a> {
    pub attempt: &'a Attempt,
    pub contact: &'a Contact,
    /// The rendered message (SMS and e-mail; voice and agent steps may have a script).
    pub message: Option<&'a Rendered>,
    /// The bot flow for voice-bot steps.
    pub flow: Option<&'a str>,
    pub campaign_kind: crate::domain::campaign::CampaignKind,
    /// The signed one-click unsubscribe link for this attempt.
    pub unsubscribe_url: &'a str,
    /// The survey questions this message or call asks (a voice bot asks them all; a
    /// message asks one).
    pub questions: Vec<AskedQuestion>,
}

/// A survey question as providers see it: a voice bot asks it and reports the answer.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AskedQuestion {
    pub id: String,
    pub kind: crate::domain::campaign::QuestionKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl AskedQuestion {
    pub fn of(q: &crate::domain::campaign::Question) -> AskedQuestion {
        AskedQuestion {
            id: q.id.clone(),
            kind: q.kind,
            text: q.text.clone(),
            choices: q.choices.clone(),
        }
    }
}

/// A provider's acceptance of a send.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Receipt {
    /// The provider's id for the message or call.
    pub provider_ref: String,
    /// Events the provider will report later (the simulator knows them at once):
    /// (event key, report, when).
    pub later: Vec<(String, Report, DateTime<Utc>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: a timeout, a refused connection, a 5xx, an unreadable
    /// answer, an SMTP 4xx. The attempt is retried with backoff, under the same
    /// idempotency key.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The provider asked herald to wait (429 or 503 with `Retry-After`): no retry before
    /// `until`.
    #[error("throttled until {until}: {why}")]
    Throttled { why: String, until: DateTime<Utc> },
    /// Will never work for this attempt (a request the provider refuses).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The address itself is dead (an invalid number, a hard bounce): the attempt fails
    /// and the address is suppressed, so no campaign tries it again.
    #[error("undeliverable address: {0}")]
    BadAddress(String),
}

impl SendError {
    /// Does this failure say the provider is unwell (as the circuit breaker counts)?
    pub fn is_temporary(&self) -> bool {
        matches!(self, SendError::Temporary(_) | SendError::Throttled { .. })
    }
}

/// The providers herald can send through.
#[derive(Clone, Debug)]
pub enum Provider {
    /// The built-in simulated provider, deterministic under a seed.
    Sim(SimProvider),
    /// E-mail through an SMTP server.
    Smtp(SmtpProvider),
    /// SMS or voice bot through an HTTP provider; `public_url` is herald's API for callbacks.
    Http(HttpProvider, String),
    /// Agent calls wait at the desk until an agent takes them.
    Desk,
}

impl Provider {
    /// The provider's name as events record it.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Sim(_) => "sim",
            Provider::Smtp(_) => "smtp",
            Provider::Http(..) => "http",
            Provider::Desk => "desk",
        }
    }

    pub async fn send(&self, out: &Outbound<'_>, now: DateTime<Utc>) -> Result<Receipt, SendError> {
        match self {
            Provider::Sim(sim) => Ok(sim.send(out, now)),
            Provider::Smtp(smtp) => smtp.send(out, out.unsubscribe_url, now).await,
            Provider::Http(http, public_url) => http.send(out, public_url, now).await,
            Provider::Desk => Ok(Receipt {
                provider_ref: format!("desk-{}", out.attempt.idempotency_key),
                later: Vec::new(),
            }),
        }
    }
}
