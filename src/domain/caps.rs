//! Caps: at most so many attempts (or connections) in any period, per contact or per
//! obligation. The contact policy holds caps for every campaign and a campaign adds its
//! own; both build them from these types, and the policy decides with them (a cap only
//! ever tightens what is allowed).

use std::fmt;

use serde::Serialize;

use super::values::{ChannelFamily, Span};

/// What a cap counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapCounts {
    /// Every attempt made.
    Attempts,
    /// Only attempts that reached the person (a connected call, a delivered message).
    Connected,
}

/// Who a cap is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "per", content = "attribute", rename_all = "snake_case")]
pub enum CapScope {
    /// One count per person.
    Contact,
    /// One count per obligation, named by an attribute of the contact (a debt id...). A
    /// contact without the attribute is not limited by this cap.
    Obligation(String),
}

/// At most `max` attempts (or connections) in any `period`, per contact or per obligation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cap {
    /// `None` counts every channel.
    pub family: Option<ChannelFamily>,
    pub max: u32,
    pub period: Span,
    pub scope: CapScope,
    pub counts: CapCounts,
    /// Where the cap was defined (`policy` or the campaign id), for explanations.
    pub origin: String,
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.counts {
            CapCounts::Attempts => "attempts",
            CapCounts::Connected => "connected",
        };
        let family = self.family.map(|f| f.as_str()).unwrap_or("any");
        let scope = match &self.scope {
            CapScope::Contact => "contact".to_string(),
            CapScope::Obligation(attr) => format!("obligation ({attr})"),
        };
        write!(
            f,
            "{} {family} {what} per {} per {scope} [{}]",
            self.max, self.period, self.origin
        )
    }
}
