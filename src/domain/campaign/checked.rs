//! The checked campaign: the types the rest of herald plans, sends and reports with.
//!
//! A [`Campaign`] is only built by [`CampaignDef::check`](super::CampaignDef::check), so
//! its schedule, windows, steps, caps and rules are well formed and refer to each other
//! consistently (a routing rule names an existing step, a survey outcome has a question).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::caps::Cap;
use crate::domain::outcome::Outcome;
use crate::domain::schedule::CronSchedule;
use crate::domain::segment::Segment;
use crate::domain::values::{Channel, Span, TimeZone};
use crate::domain::window::ContactWindow;

/// What a campaign is for; it decides the consent it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Debt collection: service contact, needs no refusal on record.
    Collection,
    /// Satisfaction survey: service contact.
    Survey,
    /// Marketing: needs explicit opt-in consent for the channel.
    Promotion,
    /// Appointment, renewal or payment reminder: service contact.
    Reminder,
}

impl CampaignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Collection => "collection",
            CampaignKind::Survey => "survey",
            CampaignKind::Promotion => "promotion",
            CampaignKind::Reminder => "reminder",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// 0-10, promoters 9-10, detractors 0-6.
    Nps,
    /// 1-5, satisfied 4-5.
    Csat,
    Choice,
    Text,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Nps => "nps",
            QuestionKind::Csat => "csat",
            QuestionKind::Choice => "choice",
            QuestionKind::Text => "text",
        }
    }
}

impl std::str::FromStr for QuestionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "nps" => QuestionKind::Nps,
            "csat" => QuestionKind::Csat,
            "choice" => QuestionKind::Choice,
            "text" => QuestionKind::Text,
            other => return Err(format!("unknown question kind `{other}`")),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Cron {
        cron: CronSchedule,
        timezone: TimeZone,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    },
    Once {
        at: DateTime<Utc>,
    },
}

impl Schedule {
    /// The first occurrence at or after `at`, within start and end.
    pub fn next_occurrence(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Once { at: once } => (*once >= at).then_some(*once),
            Schedule::Cron {
                cron,
                timezone,
                start,
                end,
            } => {
                let from = start.map_or(at, |s| s.max(at));
                let next = cron.next_after(from - chrono::Duration::seconds(1), timezone.0)?;
                end.is_none_or(|e| next <= e).then_some(next)
            }
        }
    }

    /// The zone the schedule is read in (UTC for a one-off run).
    pub fn timezone(&self) -> chrono_tz::Tz {
        match self {
            Schedule::Cron { timezone, .. } => timezone.0,
            Schedule::Once { .. } => chrono_tz::UTC,
        }
    }

    /// A short description for listings.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Once { at } => format!("once at {}", at.format("%Y-%m-%d %H:%M UTC")),
            Schedule::Cron { cron, timezone, .. } => {
                format!("cron `{}` ({timezone})", cron.source())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Audience {
    pub lists: Vec<String>,
    pub segment: Option<Segment>,
    pub recontact_after: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub id: String,
    pub channel: Channel,
    pub template: Option<String>,
    pub flow: Option<String>,
    pub after: Span,
    pub when: Option<Outcome>,
    pub skills: Vec<String>,
    pub variants: Vec<Variant>,
    /// Share of contacts held out, 0 when none.
    pub holdout: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub id: String,
    pub template: Option<String>,
    pub flow: Option<String>,
    pub weight: u32,
}

/// The variant name of contacts held out of a step.
pub const HOLDOUT: &str = "holdout";

impl Step {
    /// The variant a contact gets on this step: `None` when the step has no variants and
    /// holds nobody out, `Some(HOLDOUT)` for the control group. Deterministic: a hash of
    /// campaign, step and the contact's external id, so re-planning never moves anyone.
    pub fn variant_for(&self, campaign: &str, external_id: &str) -> Option<&str> {
        if self.variants.is_empty() && self.holdout <= 0.0 {
            return None;
        }
        let u = unit_hash(&format!("{campaign}\u{1f}{}\u{1f}{external_id}", self.id));
        if u < self.holdout {
            return Some(HOLDOUT);
        }
        if self.variants.is_empty() {
            return None;
        }
        // Spread the rest over the weights.
        let v = (u - self.holdout) / (1.0 - self.holdout);
        let total: u32 = self.variants.iter().map(|v| v.weight).sum();
        let mut edge = 0.0;
        for variant in &self.variants {
            edge += f64::from(variant.weight) / f64::from(total);
            if v < edge {
                return Some(&variant.id);
            }
        }
        self.variants.last().map(|v| v.id.as_str())
    }

    /// The template an attempt with this variant sends.
    pub fn template_of(&self, variant: Option<&str>) -> Option<&str> {
        self.variant(variant)
            .and_then(|v| v.template.as_deref())
            .or(self.template.as_deref())
    }

    /// The bot flow an attempt with this variant runs.
    pub fn flow_of(&self, variant: Option<&str>) -> Option<&str> {
        self.variant(variant)
            .and_then(|v| v.flow.as_deref())
            .or(self.flow.as_deref())
    }

    fn variant(&self, id: Option<&str>) -> Option<&Variant> {
        let id = id?;
        self.variants.iter().find(|v| v.id == id)
    }

    /// Every template the step may send (its own and its variants').
    pub fn templates(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.template.iter().map(String::as_str).collect();
        for v in &self.variants {
            if let Some(t) = &v.template
                && !out.contains(&t.as_str())
            {
                out.push(t);
            }
        }
        out
    }
}

/// A uniform number in [0, 1) from a text.
fn unit_hash(text: &str) -> f64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (n >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Clone, Debug, PartialEq)]
pub struct RoutingRule {
    pub step: Option<String>,
    pub when: Segment,
    pub channel: Channel,
    pub flow: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryRule {
    pub after: Span,
    pub max: u32,
}

/// A sending rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RateLimit {
    pub per_second: f64,
}

impl RateLimit {
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let t = text.trim();
        let err = || format!("`{t}` is not a rate (expected e.g. `20/s`, `600/m`, `5000/h`)");
        let (n, unit) = t.split_once('/').ok_or_else(err)?;
        let n: f64 = n.trim().parse().map_err(|_| err())?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            "d" | "day" => 86_400.0,
            _ => return Err(err()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("`{t}` must allow more than zero sends"));
        }
        Ok(RateLimit {
            per_second: n / secs,
        })
    }

    /// The most a burst may send at once: one second's worth, and at least one.
    pub fn burst(&self) -> f64 {
        self.per_second.max(1.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TagRule {
    pub on: Outcome,
    pub add: Option<String>,
    pub remove: Option<String>,
    pub expires: Option<Span>,
    pub step: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Survey {
    pub questions: Vec<Question>,
    pub deadline: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    pub choices: Vec<String>,
    pub reask: Option<String>,
}

/// A checked campaign definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub kind: CampaignKind,
    pub default_locale: Option<String>,
    pub locales: Vec<String>,
    pub audience: Audience,
    pub schedule: Schedule,
    pub windows: BTreeMap<Channel, ContactWindow>,
    pub steps: Vec<Step>,
    pub routing: Vec<RoutingRule>,
    pub retry: BTreeMap<Outcome, RetryRule>,
    pub caps: Vec<Cap>,
    pub rate_limits: BTreeMap<Channel, RateLimit>,
    pub tag_rules: Vec<TagRule>,
    pub survey: Option<Survey>,
    /// What success means; a contact for whom it holds is contacted no more.
    pub goal: Option<Segment>,
    /// What takes a contact out of the campaign without success.
    pub exit: Option<Segment>,
}

impl Campaign {
    /// Whether the contact is done with this campaign at `at`: its goal holds
    /// (`goal_reached`) or one of its exit conditions (`exited`).
    pub fn finished_for(
        &self,
        contact: &super::super::contact::Contact,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<crate::domain::reason::SkipReason> {
        use crate::domain::reason::SkipReason;
        if self.goal.as_ref().is_some_and(|g| g.matches(contact, at)) {
            Some(SkipReason::GoalReached)
        } else if self.exit.as_ref().is_some_and(|e| e.matches(contact, at)) {
            Some(SkipReason::Exited)
        } else {
            None
        }
    }

    /// The channel a step uses for a contact after routing rules (first match wins).
    pub fn route(&self, step: &Step, matches: impl Fn(&Segment) -> bool) -> Channel {
        if !step.channel.is_call() {
            return step.channel;
        }
        self.routing
            .iter()
            .filter(|r| r.step.as_deref().is_none_or(|s| s == step.id))
            .find(|r| matches(&r.when))
            .map_or(step.channel, |r| r.channel)
    }

    /// Tags this campaign's rules add.
    pub fn tags_added(&self) -> BTreeSet<String> {
        self.tag_rules
            .iter()
            .filter_map(|r| r.add.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::sample::{BASE, def};

    #[test]
    fn routing_picks_the_first_matching_rule_for_call_steps_only() {
        let text = format!(
            "{BASE}\n[[steps]]\nid = \"bot\"\nchannel = \"voice_bot\"\nflow = \"f\"\nafter = \"48h\"\nwhen = \"no_reply\"\n[[routing]]\nwhen = \"attr.balance >= 1000\"\nchannel = \"agent\"\n"
        );
        let c = def(&text).check("c").unwrap();
        assert_eq!(c.route(&c.steps[1], |_| true), Channel::Agent);
        assert_eq!(c.route(&c.steps[1], |_| false), Channel::VoiceBot);
        assert_eq!(c.route(&c.steps[0], |_| true), Channel::Sms);
    }

    #[test]
    fn rates_read_per_unit() {
        assert_eq!(RateLimit::parse("600/m").unwrap().per_second, 10.0);
        assert!(RateLimit::parse("0/s").is_err());
        assert!(RateLimit::parse("ten/s").is_err());
    }
}
