//! The checks that turn a parsed definition file into a [`Campaign`].
//!
//! [`CampaignDef::check`] reports every problem at once rather than the first: each is a
//! [`FieldError`] named by its key path (`steps[1].after`), with what it found, what it
//! expected and, where one helps, a hint ("did you mean ...?"). Cross-file checks
//! (templates, tags known to other definitions) belong to the catalog that loads the files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};

use super::checked::{
    Audience, Campaign, CampaignKind, HOLDOUT, Question, QuestionKind, RateLimit, RetryRule,
    RoutingRule, Schedule, Step, Survey, TagRule, Variant,
};
use super::file_format::{CampaignDef, CapDef, DateLike, OneOrMany, StepDef};
use crate::domain::caps::{Cap, CapCounts, CapScope};
use crate::domain::is_name;
use crate::domain::outcome::Outcome;
use crate::domain::schedule::CronSchedule;
use crate::domain::segment::Segment;
use crate::domain::values::{Channel, ChannelFamily, Span, TimeZone, parse_weekday};
use crate::domain::window::{ContactWindow, MinuteRange};

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
        let exit = self
            .exit
            .as_deref()
            .and_then(|e| p.check("exit", Segment::parse(e).map_err(|e| e.to_string())));
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
            exit,
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
            if let Some(s) = crate::domain::suggest(other, ["sms", "email", "call", "any"]) {
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
    if let Some(s) = crate::domain::suggest(name, ids.iter().copied()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::sample::{BASE, def};

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
}
