//! Campaign definitions: the file format (`*Def` types, strict, with a JSON Schema) and the
//! checked [`Campaign`] built from it.
//!
//! [`CampaignDef::check`] turns a parsed file into a `Campaign` or into every problem it
//! has at once, each named by its key path (`steps[1].after`). Cross-file checks (templates,
//! tags known to other definitions) belong to the catalog that loads the files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::caps::{Cap, CapCounts, CapScope};
use super::outcome::Outcome;
use super::schedule::CronSchedule;
use super::segment::Segment;
use super::values::{Channel, ChannelFamily, Span, TimeZone, parse_weekday};
use super::window::{ContactWindow, MinuteRange};

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

// ---------------------------------------------------------------------------------------
// The file format.
// ---------------------------------------------------------------------------------------

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
    /// `attr.renewed = true`). Reports count it over each variant and the holdout, so the
    /// effect of contacting is measured against contacts who were not contacted.
    pub goal: Option<String>,
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

/// A string or a list of strings.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
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

enum ParsedDate {
    Date(NaiveDate),
    Local(NaiveDateTime),
    Instant(DateTime<Utc>),
}

impl DateLike {
    fn parse(&self) -> Result<ParsedDate, String> {
        let t = self.0.trim();
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(ParsedDate::Date(d));
        }
        if let Ok(i) = DateTime::parse_from_rfc3339(t) {
            return Ok(ParsedDate::Instant(i.with_timezone(&Utc)));
        }
        for f in [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(l) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(ParsedDate::Local(l));
            }
        }
        Err(format!("`{t}` is not a date or a date-time"))
    }
}

// ---------------------------------------------------------------------------------------
// The checked campaign.
// ---------------------------------------------------------------------------------------

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
    pub goal: Option<Segment>,
}

impl Campaign {
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

/// One problem in a definition, named by its key path.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// `steps[1].after`
    pub path: String,
    pub message: String,
    pub found: Option<String>,
    pub expected: Option<String>,
    pub hint: Option<String>,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
            found: None,
            expected: None,
            hint: None,
        }
    }

    pub fn found(mut self, found: impl fmt::Display) -> Self {
        self.found = Some(found.to_string());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Collects errors while a definition is checked.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(path, message));
                None
            }
        }
    }

    fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
}

use super::is_name;

fn article(channel: Channel) -> String {
    match channel {
        Channel::Sms | Channel::Email | Channel::Agent => format!("an {channel}"),
        Channel::VoiceBot => format!("a {channel}"),
    }
}

fn article_routed(channels: &[Channel]) -> String {
    let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    match channels {
        [one] => article(*one),
        _ => format!("a {}", names.join(" or ")),
    }
}

fn survey_outcome_message(outcome: Outcome, kind: &str) -> String {
    match kind {
        "any" => format!(
            "`{outcome}` comes from a survey answer, and this campaign has no survey questions"
        ),
        _ => format!(
            "`{outcome}` comes from a survey answer, and this campaign asks no {} question",
            kind.to_uppercase()
        ),
    }
}

/// A span that must be longer than zero (cap periods, retry delays, expiries, deadlines).
fn positive_span(text: &str) -> Result<Span, String> {
    let span = Span::parse(text)?;
    if span.secs() == 0 {
        return Err(format!(
            "`{text}` is zero; this must be longer than that (e.g. `1h`, `1d`)"
        ));
    }
    Ok(span)
}

impl CampaignDef {
    /// Checks a list of caps on their own (the policy's caps in `herald.toml`).
    pub fn caps_only(caps: Vec<CapDef>) -> Result<Vec<Cap>, Vec<FieldError>> {
        let mut p = Problems::default();
        let out: Vec<Cap> = caps
            .iter()
            .enumerate()
            .filter_map(|(i, c)| check_cap(&mut p, &format!("caps[{i}]"), c, "policy"))
            .collect();
        if p.0.is_empty() { Ok(out) } else { Err(p.0) }
    }

    /// The contact windows, when they are all well formed (for checks that run even when
    /// other parts of the definition are broken).
    pub fn windows(&self) -> Option<BTreeMap<Channel, ContactWindow>> {
        self.check_windows(&mut Problems::default())
    }

    /// Checks everything that can be checked within this one file.
    pub fn check(&self, id: &str) -> Result<Campaign, Vec<FieldError>> {
        let mut p = Problems::default();

        if self.audience.lists.is_empty() && self.audience.segment.is_none() {
            p.push(
                FieldError::new("audience", "the audience is empty")
                    .expected("`lists` and/or `segment`")
                    .hint("add `lists = [\"NAME\"]` (from `herald contacts import --list NAME`) or a `segment` filter"),
            );
        }
        let segment = self.audience.segment.as_deref().and_then(|s| {
            p.check(
                "audience.segment",
                Segment::parse(s).map_err(|e| format!("segment filter, {e}")),
            )
        });

        let recontact_after = self
            .audience
            .recontact_after
            .as_deref()
            .and_then(|r| p.check("audience.recontact_after", positive_span(r)));
        let schedule = self.check_schedule(&mut p);
        let windows = self.check_windows(&mut p);
        let steps = self.check_steps(&mut p);

        let mut routing = Vec::new();
        for (i, r) in self.routing.iter().enumerate() {
            let path = format!("routing[{i}]");
            if let Some(step) = &r.step
                && !self.steps.iter().any(|s| &s.id == step)
            {
                p.push(unknown_step(&format!("{path}.step"), step, &self.steps));
            }
            if !r.channel.is_call() {
                p.push(
                    FieldError::new(
                        format!("{path}.channel"),
                        "routing chooses between a voice bot and a human agent",
                    )
                    .found(r.channel)
                    .expected("`voice_bot` or `agent`"),
                );
            }
            if let Some(step) = r
                .step
                .as_ref()
                .and_then(|s| self.steps.iter().find(|d| &d.id == s))
                && !step.channel.is_call()
            {
                p.push(
                    FieldError::new(
                        format!("{path}.step"),
                        format!(
                            "step `{}` is not a call, so routing can never apply to it",
                            step.id
                        ),
                    )
                    .found(step.channel)
                    .expected("a `voice_bot` or `agent` step"),
                );
            }
            let needs_flow = r.channel == Channel::VoiceBot
                && r.flow.is_none()
                && self.steps.iter().any(|s| {
                    s.channel == Channel::Agent && r.step.as_ref().is_none_or(|id| *id == s.id)
                });
            if needs_flow {
                p.push(
                    FieldError::new(
                        format!("{path}.flow"),
                        "a rule that sends an agent step to the voice bot must name the bot flow",
                    )
                    .hint("add `flow = \"NAME\"` to the rule"),
                );
            }
            if let Some(when) = p.check(
                &format!("{path}.when"),
                Segment::parse(&r.when).map_err(|e| format!("routing filter, {e}")),
            ) {
                routing.push(RoutingRule {
                    step: r.step.clone(),
                    when,
                    channel: r.channel,
                    flow: r.flow.clone(),
                });
            }
        }

        let mut retry = BTreeMap::new();
        for (outcome, r) in &self.retry {
            let path = format!("retry.{outcome}");
            if !outcome.is_retryable() {
                p.push(
                    FieldError::new(
                        &path,
                        format!(
                            "`{outcome}` is an outcome that reached the person; it is not retried"
                        ),
                    )
                    .expected("busy, no_answer, voicemail, failed, callback_requested or no_reply"),
                );
            }
            let channels: Vec<Channel> = self
                .steps
                .iter()
                .flat_map(|s| self.channels_of(s))
                .collect();
            if !channels.is_empty() && !channels.iter().any(|c| outcome.possible_on(*c)) {
                p.push(
                    FieldError::new(&path, format!("no step of this campaign can end with `{outcome}`, so this retry rule never applies"))
                        .found(outcome),
                );
            }
            if r.max == 0 {
                p.push(
                    FieldError::new(
                        format!("{path}.max"),
                        "max counts attempts and must be at least 1",
                    )
                    .found(0),
                );
            }
            if let Some(after) = p.check(&format!("{path}.after"), positive_span(&r.after)) {
                retry.insert(*outcome, RetryRule { after, max: r.max });
            }
        }

        let mut caps = Vec::new();
        for (i, c) in self.caps.iter().enumerate() {
            if let Some(cap) = check_cap(&mut p, &format!("caps[{i}]"), c, id) {
                caps.push(cap);
            }
        }

        let mut rate_limits = BTreeMap::new();
        for (channel, r) in &self.rate_limits {
            if let Some(rate) = p.check(&format!("rate_limits.{channel}"), RateLimit::parse(r)) {
                rate_limits.insert(*channel, rate);
            }
        }

        let goal = self
            .goal
            .as_deref()
            .and_then(|g| p.check("goal", Segment::parse(g).map_err(|e| e.to_string())));
        let survey = self.check_survey(&mut p);
        let tag_rules = self.check_tag_rules(&mut p, survey.as_ref());

        if let Some(loc) = &self.default_locale
            && loc.trim().is_empty()
        {
            p.push(
                FieldError::new("default_locale", "the default locale is empty")
                    .expected("a locale such as `en` or `es-MX`"),
            );
        }

        if !p.0.is_empty() {
            return Err(p.0);
        }
        Ok(Campaign {
            id: id.to_string(),
            name: self.name.clone().unwrap_or_else(|| id.to_string()),
            description: self.description.clone(),
            kind: self.kind,
            default_locale: self.default_locale.clone(),
            locales: self.locales.clone(),
            audience: Audience {
                lists: self.audience.lists.clone(),
                segment,
                recontact_after,
            },
            schedule: schedule.expect("no problems"),
            windows: windows.expect("no problems"),
            steps: steps.expect("no problems"),
            routing,
            retry,
            caps,
            rate_limits,
            tag_rules,
            survey,
            goal,
        })
    }

    fn check_schedule(&self, p: &mut Problems) -> Option<Schedule> {
        let s = &self.schedule;
        let tz = s
            .timezone
            .as_deref()
            .and_then(|t| p.check("schedule.timezone", TimeZone::parse(t)));
        let instant = |p: &mut Problems,
                       key: &str,
                       d: &DateLike,
                       end_of_day: bool|
         -> Option<DateTime<Utc>> {
            let path = format!("schedule.{key}");
            match p.check(&path, d.parse())? {
                ParsedDate::Instant(i) => Some(i),
                other => {
                    let Some(tz) = tz else {
                        // A zone that is given but wrong is already reported.
                        if s.timezone.is_some() {
                            return None;
                        }
                        p.push(
                            FieldError::new(&path, "a date without an offset needs the schedule's time zone")
                                .found(&d.0)
                                .hint("add `timezone = \"Europe/London\"` to [schedule] or write an offset (`2026-12-01T09:00:00Z`)"),
                        );
                        return None;
                    };
                    let local = match other {
                        ParsedDate::Date(d) if end_of_day => {
                            d.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid"))
                        }
                        ParsedDate::Date(d) => d.and_time(NaiveTime::MIN),
                        ParsedDate::Local(l) => l,
                        ParsedDate::Instant(_) => unreachable!(),
                    };
                    tz.0.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).or_else(|| {
                        p.push(FieldError::new(&path, "this local time does not exist in the schedule's time zone (DST gap)").found(&d.0));
                        None
                    })
                }
            }
        };
        match (&s.cron, &s.once) {
            (Some(_), Some(_)) => {
                p.push(
                    FieldError::new("schedule", "`cron` and `once` exclude each other")
                        .hint("keep `cron` for a recurring campaign or `once` for a single run"),
                );
                None
            }
            (None, None) => {
                p.push(
                    FieldError::new("schedule", "the schedule says neither when nor how often")
                        .expected("`cron = \"0 9 * * mon-fri\"` with `timezone`, or `once = 2026-12-01T09:00:00Z`"),
                );
                None
            }
            (None, Some(once)) => {
                if s.start.is_some() || s.end.is_some() {
                    p.push(FieldError::new(
                        "schedule",
                        "`start` and `end` bound a cron schedule; a `once` run has neither",
                    ));
                }
                instant(p, "once", once, false).map(|at| Schedule::Once { at })
            }
            (Some(expr), None) => {
                let cron = p.check("schedule.cron", CronSchedule::parse(expr));
                if s.timezone.is_none() {
                    p.push(
                        FieldError::new(
                            "schedule.timezone",
                            "a cron schedule needs the time zone it is read in",
                        )
                        .expected("an IANA zone such as `Europe/London`"),
                    );
                }
                let start = s.start.as_ref().and_then(|d| instant(p, "start", d, false));
                let end = s.end.as_ref().and_then(|d| instant(p, "end", d, true));
                if let (Some(a), Some(b)) = (start, end)
                    && b < a
                {
                    p.push(
                        FieldError::new("schedule.end", "the schedule ends before it starts")
                            .found(&s.end.as_ref().expect("set").0),
                    );
                }
                let (cron, timezone) = (cron?, tz?);
                let bounded = Schedule::Cron {
                    cron: cron.clone(),
                    timezone,
                    start,
                    end,
                };
                if let (Some(first), Some(_)) = (start, end)
                    && bounded.next_occurrence(first).is_none()
                {
                    p.push(
                        FieldError::new(
                            "schedule.cron",
                            "the cron expression never fires between `start` and `end`",
                        )
                        .found(expr),
                    );
                }
                Some(Schedule::Cron {
                    cron,
                    timezone,
                    start,
                    end,
                })
            }
        }
    }

    fn check_windows(&self, p: &mut Problems) -> Option<BTreeMap<Channel, ContactWindow>> {
        let mut out = BTreeMap::new();
        let before = p.0.len();
        for (channel, w) in &self.windows {
            let path = format!("windows.{channel}");
            let days = match &w.days {
                None => ALL_WEEK.to_vec(),
                Some(d) => p
                    .check(&format!("{path}.days"), parse_days(&d.items()))
                    .unwrap_or_default(),
            };
            let ranges = match &w.hours {
                None => vec![MinuteRange::ALL_DAY],
                Some(h) => h
                    .items()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        let key = match h {
                            OneOrMany::One(_) => format!("{path}.hours"),
                            OneOrMany::Many(_) => format!("{path}.hours[{i}]"),
                        };
                        p.check(&key, MinuteRange::parse(r))
                    })
                    .collect(),
            };
            let holidays: Vec<NaiveDate> = w
                .holidays
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    let key = format!("{path}.holidays[{i}]");
                    match p.check(&key, d.parse())? {
                        ParsedDate::Date(d) => Some(d),
                        _ => {
                            p.push(
                                FieldError::new(key, "a holiday is a whole day")
                                    .found(&d.0)
                                    .expected("a date such as 2026-12-25"),
                            );
                            None
                        }
                    }
                })
                .collect();
            let window = ContactWindow::new(days, ranges, holidays);
            if p.0.len() == before && window.never_opens() {
                p.push(
                    FieldError::new(&path, "this window never opens")
                        .found(window.to_string())
                        .hint("give it at least one day and one hour range"),
                );
            }
            out.insert(*channel, window);
        }
        (p.0.len() == before).then_some(out)
    }

    fn check_steps(&self, p: &mut Problems) -> Option<Vec<Step>> {
        let before = p.0.len();
        if self.steps.is_empty() {
            p.push(
                FieldError::new("steps", "a campaign needs at least one step")
                    .hint("add a `[[steps]]` table with `id` and `channel`"),
            );
        }
        let mut seen = BTreeSet::new();
        let mut steps = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let path = format!("steps[{i}]");
            if !is_name(&s.id) {
                p.push(
                    FieldError::new(format!("{path}.id"), "a step id is a name")
                        .found(&s.id)
                        .expected("letters, digits, `_` or `-`"),
                );
            }
            if !seen.insert(s.id.as_str()) {
                p.push(FieldError::new(
                    format!("{path}.id"),
                    format!("step id `{}` is used twice", s.id),
                ));
            }
            match s.channel {
                Channel::Sms | Channel::Email if s.template.is_none() => p.push(
                    FieldError::new(
                        format!("{path}.template"),
                        format!("{} step needs a template", article(s.channel)),
                    )
                    .hint(format!(
                        "add `template = \"NAME\"` for templates/{}/NAME.LOCALE.txt",
                        s.channel
                    )),
                ),
                Channel::VoiceBot if s.flow.is_none() => p.push(
                    FieldError::new(
                        format!("{path}.flow"),
                        "a voice_bot step needs the bot flow it runs",
                    )
                    .hint("add `flow = \"NAME\"`"),
                ),
                _ => {}
            }
            if s.flow.is_some() && s.channel != Channel::VoiceBot {
                p.push(
                    FieldError::new(
                        format!("{path}.flow"),
                        "only voice_bot steps run a bot flow",
                    )
                    .found(s.channel),
                );
            }
            if !s.skills.is_empty() && s.channel != Channel::Agent {
                p.push(
                    FieldError::new(
                        format!("{path}.skills"),
                        "only agent steps need agent skills",
                    )
                    .found(s.channel),
                );
            }
            let after = match &s.after {
                None => Some(Span::from_secs(0)),
                Some(a) => p.check(&format!("{path}.after"), Span::parse(a)),
            };
            if let Some(when) = s.when {
                let key = format!("{path}.when");
                match i.checked_sub(1).map(|j| &self.steps[j]) {
                    None => p.push(
                        FieldError::new(&key, "the first step has no previous step, so this condition can never be true")
                            .found(when)
                            .hint("remove `when` from the first step"),
                    ),
                    Some(prev) => {
                        // Routing may send the previous step to another call channel.
                        let prev_channels = self.channels_of(prev);
                        if !prev_channels.iter().any(|c| when.possible_on(*c)) {
                            let possible: Vec<&str> = Outcome::ALL
                                .iter()
                                .filter(|o| prev_channels.iter().any(|c| o.possible_on(*c)))
                                .map(|o| o.as_str())
                                .collect();
                            p.push(
                                FieldError::new(
                                    &key,
                                    format!("{} step never ends with `{when}`, so this condition can never be true", article_routed(&prev_channels)),
                                )
                                .found(when)
                                .expected(format!("an outcome of step `{}`: {}", prev.id, possible.join(", "))),
                            );
                        } else if when == Outcome::OptedOut {
                            p.push(
                                FieldError::new(&key, "a contact who opted out is never contacted again, so this step can never run")
                                    .found(when),
                            );
                        } else if let Some(kind) = when.survey_question_needed()
                            && !self.has_question(kind)
                        {
                            p.push(
                                FieldError::new(&key, survey_outcome_message(when, kind))
                                    .found(when)
                                    .hint("add a [survey] block with the question, or choose another outcome"),
                            );
                        }
                    }
                }
            }
            if let Some(after) = after {
                steps.push(Step {
                    id: s.id.clone(),
                    channel: s.channel,
                    template: s.template.clone(),
                    flow: s.flow.clone(),
                    after,
                    when: s.when,
                    skills: s.skills.clone(),
                    variants: check_variants(p, &path, s),
                    holdout: s.holdout.unwrap_or(0.0),
                });
            }
        }
        (p.0.len() == before).then_some(steps)
    }

    /// The channels a step may use: its own, and any a routing rule sends it to.
    fn channels_of(&self, step: &StepDef) -> Vec<Channel> {
        let mut out = vec![step.channel];
        if step.channel.is_call() {
            for r in &self.routing {
                if r.step.as_ref().is_none_or(|s| *s == step.id) && !out.contains(&r.channel) {
                    out.push(r.channel);
                }
            }
        }
        out
    }

    fn has_question(&self, kind: &str) -> bool {
        self.survey.as_ref().is_some_and(|s| {
            s.questions.iter().any(|q| match kind {
                "nps" => q.kind == QuestionKind::Nps,
                "csat" => q.kind == QuestionKind::Csat,
                _ => true,
            })
        })
    }

    fn check_survey(&self, p: &mut Problems) -> Option<Survey> {
        let s = self.survey.as_ref()?;
        if s.questions.is_empty() {
            p.push(FieldError::new(
                "survey.questions",
                "a survey needs at least one question",
            ));
        }
        let mut ids = BTreeSet::new();
        for (i, q) in s.questions.iter().enumerate() {
            let path = format!("survey.questions[{i}]");
            if !is_name(&q.id) {
                p.push(
                    FieldError::new(format!("{path}.id"), "a question id is a name").found(&q.id),
                );
            }
            if !ids.insert(q.id.as_str()) {
                p.push(FieldError::new(
                    format!("{path}.id"),
                    format!("question id `{}` is used twice", q.id),
                ));
            }
            match (q.kind, q.choices.len()) {
                (QuestionKind::Choice, n) if n < 2 => p.push(
                    FieldError::new(
                        format!("{path}.choices"),
                        "a choice question needs at least two choices",
                    )
                    .found(n),
                ),
                (QuestionKind::Choice, _) | (_, 0) => {}
                (kind, _) => p.push(FieldError::new(
                    format!("{path}.choices"),
                    format!(
                        "only choice questions take choices; {} questions have a fixed scale or free text", format!("{kind:?}").to_lowercase()
                    ),
                )),
            }
        }
        if self.kind != CampaignKind::Survey {
            p.push(
                FieldError::new("survey", "only survey campaigns ask survey questions")
                    .found(self.kind.as_str())
                    .hint("set `kind = \"survey\"` or remove the [survey] block"),
            );
        }
        let deadline = s
            .deadline
            .as_deref()
            .and_then(|d| p.check("survey.deadline", positive_span(d)));
        Some(Survey {
            questions: s
                .questions
                .iter()
                .map(|q| Question {
                    id: q.id.clone(),
                    kind: q.kind,
                    text: q.text.clone(),
                    choices: q.choices.clone(),
                    reask: q.reask.clone(),
                })
                .collect(),
            deadline,
        })
    }

    fn check_tag_rules(&self, p: &mut Problems, survey: Option<&Survey>) -> Vec<TagRule> {
        let mut out = Vec::new();
        for (i, r) in self.tags.iter().enumerate() {
            let path = format!("tags[{i}]");
            if r.add.is_none() && r.remove.is_none() {
                p.push(
                    FieldError::new(&path, "a tag rule must add or remove a tag")
                        .hint("add `add = \"TAG\"` or `remove = \"TAG\"`"),
                );
            }
            for (key, tag) in [("add", &r.add), ("remove", &r.remove)] {
                if let Some(t) = tag
                    && !is_name(t)
                {
                    p.push(
                        FieldError::new(format!("{path}.{key}"), "a tag is a name")
                            .found(t)
                            .expected("letters, digits, `_` or `-`"),
                    );
                }
            }
            if r.expires.is_some() && r.add.is_none() {
                p.push(FieldError::new(
                    format!("{path}.expires"),
                    "only an added tag can expire",
                ));
            }
            let step = r
                .step
                .as_ref()
                .and_then(|s| self.steps.iter().find(|d| &d.id == s));
            if let Some(s) = &r.step
                && step.is_none()
            {
                p.push(unknown_step(&format!("{path}.step"), s, &self.steps));
            }
            // Routing may move a step to another call channel: its outcomes count too.
            let channels: Vec<Channel> = match step {
                Some(s) => self.channels_of(s),
                None => self
                    .steps
                    .iter()
                    .flat_map(|s| self.channels_of(s))
                    .collect(),
            };
            if !channels.is_empty() && !channels.iter().any(|c| r.on.possible_on(*c)) {
                p.push(
                    FieldError::new(format!("{path}.on"), format!("no step of this campaign can end with `{}`, so this rule never applies", r.on))
                        .found(r.on),
                );
            }
            if let Some(kind) = r.on.survey_question_needed()
                && survey.is_none_or(|_| !self.has_question(kind))
            {
                p.push(
                    FieldError::new(format!("{path}.on"), survey_outcome_message(r.on, kind))
                        .found(r.on),
                );
            }
            let expires = r
                .expires
                .as_deref()
                .and_then(|e| p.check(&format!("{path}.expires"), positive_span(e)));
            out.push(TagRule {
                on: r.on,
                add: r.add.clone(),
                remove: r.remove.clone(),
                expires,
                step: r.step.clone(),
            });
        }
        out
    }
}

const ALL_WEEK: [chrono::Weekday; 7] = [
    chrono::Weekday::Mon,
    chrono::Weekday::Tue,
    chrono::Weekday::Wed,
    chrono::Weekday::Thu,
    chrono::Weekday::Fri,
    chrono::Weekday::Sat,
    chrono::Weekday::Sun,
];

/// Reads `["mon", "wed"]`, `"mon-fri"`, `"weekdays"`, `"weekends"`, `"every day"`.
fn parse_days(items: &[&str]) -> Result<Vec<chrono::Weekday>, String> {
    let mut out = Vec::new();
    for item in items.iter().flat_map(|i| i.split(',')) {
        let t = item.trim().to_ascii_lowercase();
        match t.as_str() {
            "weekdays" => out.extend_from_slice(&ALL_WEEK[..5]),
            "weekends" => out.extend_from_slice(&ALL_WEEK[5..]),
            "every day" | "everyday" | "daily" | "all" => out.extend_from_slice(&ALL_WEEK),
            _ => match t.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (parse_weekday(a)?, parse_weekday(b)?);
                    let mut d = a;
                    loop {
                        out.push(d);
                        if d == b {
                            break;
                        }
                        d = d.succ();
                    }
                }
                None => out.push(parse_weekday(&t)?),
            },
        }
    }
    Ok(out)
}

fn check_cap(p: &mut Problems, path: &str, c: &CapDef, origin: &str) -> Option<Cap> {
    let family = match c.channel.as_deref().unwrap_or("any") {
        "any" => Some(None),
        "sms" => Some(Some(ChannelFamily::Sms)),
        "email" => Some(Some(ChannelFamily::Email)),
        "call" | "voice_bot" | "agent" => Some(Some(ChannelFamily::Call)),
        other => {
            p.push(
                FieldError::new(format!("{path}.channel"), "unknown cap channel")
                    .found(other)
                    .expected("sms, email, call or any"),
            );
            if let Some(s) = super::suggest(other, ["sms", "email", "call", "any"]) {
                let last = p.0.len() - 1;
                p.0[last].hint = Some(format!("did you mean `{s}`?"));
            }
            None
        }
    };
    let counts = match c.counts.as_deref().unwrap_or("attempts") {
        "attempts" => Some(CapCounts::Attempts),
        "connected" => Some(CapCounts::Connected),
        other => {
            p.push(
                FieldError::new(format!("{path}.counts"), "unknown cap count")
                    .found(other)
                    .expected("attempts or connected"),
            );
            None
        }
    };
    if c.max == 0 {
        p.push(
            FieldError::new(
                format!("{path}.max"),
                "a cap of 0 forbids the channel outright",
            )
            .found(0)
            .hint("remove the step instead"),
        );
    }
    let period = p.check(&format!("{path}.per"), positive_span(&c.per));
    let scope = match &c.obligation {
        Some(a) if is_name(a) => CapScope::Obligation(a.clone()),
        Some(a) => {
            p.push(
                FieldError::new(
                    format!("{path}.obligation"),
                    "the obligation is an attribute name",
                )
                .found(a),
            );
            return None;
        }
        None => CapScope::Contact,
    };
    Some(Cap {
        family: family?,
        max: c.max,
        period: period?,
        scope,
        counts: counts?,
        origin: origin.to_string(),
    })
}

fn unknown_step(path: &str, name: &str, steps: &[StepDef]) -> FieldError {
    let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    let mut e = FieldError::new(path, format!("there is no step `{name}`"))
        .found(name)
        .expected(format!("one of: {}", ids.join(", ")));
    if let Some(s) = super::suggest(name, ids.iter().copied()) {
        e = e.hint(format!("did you mean `{s}`?"));
    }
    e
}

/// A step's variants and holdout share.
fn check_variants(p: &mut Problems, path: &str, s: &StepDef) -> Vec<Variant> {
    if let Some(h) = s.holdout
        && !(0.0..=0.5).contains(&h)
    {
        p.push(
            FieldError::new(
                format!("{path}.holdout"),
                "a holdout is a share of contacts between 0 and 0.5",
            )
            .found(h)
            .hint("write `holdout = 0.1` to keep 10% of contacts as a control group"),
        );
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, v) in s.variants.iter().enumerate() {
        let key = format!("{path}.variants[{i}]");
        if !is_name(&v.id) || v.id == HOLDOUT {
            p.push(
                FieldError::new(
                    format!("{key}.id"),
                    "a variant id is a name other than `holdout`",
                )
                .found(&v.id)
                .expected("letters, digits, `_` or `-`"),
            );
        }
        if !seen.insert(v.id.as_str()) {
            p.push(FieldError::new(
                format!("{key}.id"),
                format!("variant id `{}` is used twice", v.id),
            ));
        }
        if v.weight == Some(0) {
            p.push(
                FieldError::new(
                    format!("{key}.weight"),
                    "a variant with weight 0 is never sent",
                )
                .hint("remove the variant, or give it a weight of 1 or more"),
            );
        }
        if v.template.is_some() && !matches!(s.channel, Channel::Sms | Channel::Email) {
            p.push(
                FieldError::new(
                    format!("{key}.template"),
                    "only sms and email steps send a template",
                )
                .found(s.channel),
            );
        }
        if v.flow.is_some() && s.channel != Channel::VoiceBot {
            p.push(
                FieldError::new(format!("{key}.flow"), "only voice_bot steps run a bot flow")
                    .found(s.channel),
            );
        }
        out.push(Variant {
            id: v.id.clone(),
            template: v.template.clone(),
            flow: v.flow.clone(),
            weight: v.weight.unwrap_or(1),
        });
    }
    if s.variants.len() == 1 {
        p.push(
            FieldError::new(
                format!("{path}.variants"),
                "a single variant compares with nothing",
            )
            .hint("add a second variant, or move its template to the step"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(text: &str) -> CampaignDef {
        toml::from_str(text).unwrap()
    }

    const BASE: &str = r#"
kind = "collection"
[audience]
lists = ["overdue"]
[schedule]
cron = "0 9 * * mon-fri"
timezone = "Europe/London"
[[steps]]
id = "sms"
channel = "sms"
template = "reminder"
"#;

    #[test]
    fn a_minimal_definition_checks() {
        let c = def(BASE).check("reminder").unwrap();
        assert_eq!(c.steps.len(), 1);
        let next = c
            .schedule
            .next_occurrence(Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap())
            .unwrap();
        // Saturday noon → Monday 09:00 London (GMT in winter).
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = format!(
            "{BASE}\n[[steps]]\nid = \"bot\"\nchannel = \"voice_bot\"\nafter = \"2x\"\nwhen = \"handed_off\"\n[windows.sms]\ndays = []\n[retry.no_answer]\nafter = \"2h\"\nmax = 0\n"
        );
        let errors = def(&text).check("c").unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"steps[1].after"), "{paths:?}");
        assert!(paths.contains(&"steps[1].flow"), "{paths:?}");
        assert!(paths.contains(&"steps[1].when"), "{paths:?}");
        assert!(paths.contains(&"windows.sms"), "{paths:?}");
        assert!(paths.contains(&"retry.no_answer.max"), "{paths:?}");
    }

    #[test]
    fn toml_dates_and_strings_are_both_accepted() {
        let text = BASE.replace(
            "timezone = \"Europe/London\"",
            "timezone = \"Europe/London\"\nstart = 2026-12-01\nend = \"2026-12-31\"",
        );
        let c = def(&text).check("c").unwrap();
        let Schedule::Cron { start, end, .. } = c.schedule else {
            panic!()
        };
        assert_eq!(
            start.unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            end.unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap()
        );
    }

    #[test]
    fn five_and_six_field_cron_expressions_are_accepted() {
        assert!(CronSchedule::parse("*/15 8-20 * * *").is_ok());
        assert!(CronSchedule::parse("0 */15 8-20 * * *").is_ok());
        assert!(CronSchedule::parse("61 * * * *").is_err());
        assert!(
            CronSchedule::parse("* * *")
                .unwrap_err()
                .contains("3 fields")
        );
    }

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
