//! The campaign definition file as written in `jobs/NAME.toml`: the `*Def` types, read
//! strictly (an unknown key is an error) and described by a JSON Schema for editors.
//!
//! Values here are still text as written (spans, dates, cron expressions); the checks in
//! `checks.rs` read them into a [`Campaign`](super::Campaign).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::checked::{CampaignKind, QuestionKind};
use crate::domain::outcome::Outcome;
use crate::domain::values::Channel;

/// A campaign definition file (`jobs/NAME.toml`). The file name is the campaign id.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "herald campaign definition")]
pub struct CampaignDef {
    /// Display name; defaults to the file name.
    pub name: Option<String>,
    pub description: Option<String>,
    pub kind: CampaignKind,
    /// Locale used when a contact's own locale has no template (default: the config's).
    pub default_locale: Option<String>,
    /// Locales this campaign promises to speak: every template must exist in each.
    #[serde(default)]
    pub locales: Vec<String>,
    pub audience: AudienceDef,
    pub schedule: ScheduleDef,
    /// Contact windows per channel, in the recipient's local time. They tighten the
    /// policy's quiet hours and can never widen them.
    #[serde(default)]
    pub windows: BTreeMap<Channel, WindowDef>,
    /// The sequence of steps, in order.
    pub steps: Vec<StepDef>,
    /// Rules that send a call step to a voice bot or a human agent.
    #[serde(default)]
    pub routing: Vec<RoutingDef>,
    /// Retry policy by outcome (`busy`, `no_answer`, `voicemail`, `failed`...).
    #[serde(default)]
    pub retry: BTreeMap<Outcome, RetryDef>,
    /// Frequency caps added to the policy's caps.
    #[serde(default)]
    pub caps: Vec<CapDef>,
    /// Sending rate per channel: `"20/s"`, `"600/m"`, `"5000/h"`.
    #[serde(default)]
    pub rate_limits: BTreeMap<Channel, String>,
    /// Which outcomes add or remove which tags.
    #[serde(default)]
    pub tags: Vec<TagRuleDef>,
    pub survey: Option<SurveyDef>,
    /// A segment filter that says a contact reached the campaign's goal (`tag.paid`,
    /// `attr.renewed = true`). A contact for whom it holds is not planned and gets none of
    /// the campaign's pending steps (skip reason `goal_reached`); reports count it over each
    /// variant and the holdout, so the effect of contacting is measured against contacts who
    /// were not contacted.
    pub goal: Option<String>,
    /// A segment filter that takes a contact out of the campaign without it having reached
    /// its goal (`tag.disputed or attr.balance <= 0`): not planned, and none of the pending
    /// steps sent (skip reason `exited`).
    pub exit: Option<String>,
}

/// Who the campaign is for: contacts in any of `lists`, filtered by `segment`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceDef {
    /// Contact lists (as given to `herald contacts import --list`).
    #[serde(default)]
    pub lists: Vec<String>,
    /// A segment filter over attributes and tags, e.g. `attr.balance > 100 and not tag.paid`.
    pub segment: Option<String>,
    /// Leave out contacts this campaign sent to within this period (`30d`), so a daily
    /// schedule does not ask the same people every day.
    pub recontact_after: Option<String>,
}

/// When the campaign runs: a cron expression in a time zone, or once.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    /// 5 fields (`min hour day month weekday`) or 6-7 with seconds first.
    pub cron: Option<String>,
    /// IANA time zone the cron expression and bare dates are read in.
    pub timezone: Option<String>,
    /// First day (or moment) the schedule may fire.
    pub start: Option<DateLike>,
    /// Last day (inclusive) or moment the schedule may fire.
    pub end: Option<DateLike>,
    /// A single run at this moment instead of a cron schedule.
    pub once: Option<DateLike>,
}

/// A contact window for one channel.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// `["mon", "tue"]`, `"mon-fri"`, `"weekdays"`, `"every day"` (default: every day).
    pub days: Option<OneOrMany>,
    /// `"09:00-20:00"` or several ranges (default: all day, within the quiet hours).
    pub hours: Option<OneOrMany>,
    /// Dates on which the window stays closed.
    #[serde(default)]
    pub holidays: Vec<DateLike>,
}

/// One step of the sequence.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Unique name of the step within the campaign.
    pub id: String,
    pub channel: Channel,
    /// Message template (`templates/CHANNEL/NAME.LOCALE.EXT`); required for sms and email.
    pub template: Option<String>,
    /// Bot flow on the voice-bot platform; required for voice_bot.
    pub flow: Option<String>,
    /// Delay after the previous step's attempt (`48h`); the first step ignores it.
    pub after: Option<String>,
    /// Run only when the previous step ended with this outcome (`no_reply`, `handed_off`...).
    pub when: Option<Outcome>,
    /// Skills an agent needs to take this step (agent steps only).
    #[serde(default)]
    pub skills: Vec<String>,
    /// A/B variants of the step's message or bot flow. Each contact always gets the same
    /// variant (a hash of campaign, step and contact), in proportion to the weights.
    #[serde(default)]
    pub variants: Vec<VariantDef>,
    /// Share of contacts (0 to 0.5) held out of this step as a control group: they are
    /// recorded with variant `holdout` and never contacted by the step or the steps after it.
    pub holdout: Option<f64>,
}

/// One variant of a step.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantDef {
    /// Name of the variant in reports (`short`, `b`).
    pub id: String,
    /// The template this variant sends (default: the step's).
    pub template: Option<String>,
    /// The bot flow this variant runs (default: the step's).
    pub flow: Option<String>,
    /// Relative weight (default 1).
    pub weight: Option<u32>,
}

/// Sends matching contacts' call steps to another call channel.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingDef {
    /// The step this rule applies to (default: every call step).
    pub step: Option<String>,
    /// Segment filter the contact must match, e.g. `attr.balance >= 1000`.
    pub when: String,
    /// `agent` or `voice_bot`.
    pub channel: Channel,
    /// The bot flow to run when the rule sends an agent step to the voice bot.
    pub flow: Option<String>,
}

/// Retry an attempt that ended with this outcome.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryDef {
    /// Wait before the retry (`15m`, `2h`).
    pub after: String,
    /// Attempts at most for the step, first attempt included.
    pub max: u32,
}

/// A frequency cap.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapDef {
    /// `sms`, `email`, `call` or `any` (default `any`).
    pub channel: Option<String>,
    pub max: u32,
    /// Rolling period (`1d`, `7d`).
    pub per: String,
    /// Attribute naming the obligation (debt id) to count per; default: per contact.
    pub obligation: Option<String>,
    /// `attempts` (default) or `connected`.
    pub counts: Option<String>,
}

/// Adds or removes a tag when an outcome happens.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRuleDef {
    pub on: Outcome,
    pub add: Option<String>,
    pub remove: Option<String>,
    /// How long an added tag lasts (`90d`); default: until removed.
    pub expires: Option<String>,
    /// Only for outcomes of this step (default: any step).
    pub step: Option<String>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyDef {
    pub questions: Vec<QuestionDef>,
    /// How long answers are accepted after the first message (`7d`).
    pub deadline: Option<String>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionDef {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    /// The answers offered (choice questions only).
    #[serde(default)]
    pub choices: Vec<String>,
    /// What a clarifying re-ask says before the question, after an answer that could not
    /// be read (default: "Sorry, we could not read your answer.").
    pub reask: Option<String>,
}

/// A string or a list of strings.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A date (`2026-12-25`) or date-time (`2026-12-01T09:00:00Z`), as a TOML value or a string.
#[derive(Clone, Debug, PartialEq)]
pub struct DateLike(pub String);

impl<'de> Deserialize<'de> for DateLike {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Toml(toml::value::Datetime),
            Text(String),
        }
        Ok(DateLike(
            match Either::deserialize(d).map_err(|_| {
                serde::de::Error::custom(
                    "expected a date (2026-12-25) or a date-time (2026-12-01T09:00:00Z)",
                )
            })? {
                Either::Toml(t) => t.to_string(),
                Either::Text(s) => s,
            },
        ))
    }
}

impl JsonSchema for DateLike {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DateLike".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A date (2026-12-25) or a date-time (2026-12-01T09:00:00Z)",
            "anyOf": [
                { "type": "string", "format": "date" },
                { "type": "string", "format": "date-time" },
                { "type": "string", "format": "partial-date-time" }
            ]
        })
    }
}
