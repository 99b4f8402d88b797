//! Planning decisions for one run of a campaign: who is contacted, on which channel, when,
//! and why the others are not.
//!
//! The planner sees one contact at a time (the audience is streamed) and keeps only
//! counters and the rate-limit slots, so its memory does not grow with the audience beyond
//! those slots. It plans the first step of the sequence; later steps depend on outcomes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::campaign::{Campaign, RateLimit, Step};
use super::contact::{Contact, Suppression};
use super::policy::{
    Cap, ContactPolicy, PastAttempt, Question, SkipReason, Verdict, contact_zone, decide,
};
use super::values::{Channel, TimeZone};
use super::window::ContactWindow;

/// What the planner decided for one contact.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Planned {
        step: String,
        channel: Channel,
        at: DateTime<Utc>,
        /// Why the attempt is later than the run's start, if it is.
        delay: Option<String>,
    },
    Skipped {
        reason: SkipReason,
    },
}

/// Counts for one (step, channel): how many contacts, and when, by hour.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepPlan {
    pub step: String,
    pub channel: Channel,
    pub contacts: u64,
    /// Hour (UTC) → attempts starting in that hour.
    pub by_hour: BTreeMap<DateTime<Utc>, u64>,
    /// Delay reason code → contacts delayed for it.
    pub delayed: BTreeMap<String, u64>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

/// The outcome of planning a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlanSummary {
    pub campaign: String,
    pub run_at: Option<DateTime<Utc>>,
    /// Contacts read from the audience lists (or every contact when the audience is a
    /// segment alone).
    pub considered: u64,
    /// Contacts the segment filter left out.
    pub not_in_segment: u64,
    pub planned: u64,
    /// Reason code → contacts skipped for it.
    pub skipped: BTreeMap<String, u64>,
    pub steps: Vec<StepPlan>,
    /// Later steps: planned when the outcomes of earlier ones arrive.
    pub later_steps: Vec<String>,
}

/// Rate-limit slots for one channel: fixed buckets of time, each with a capacity, and
/// within a bucket sends spaced by the rate's interval from the first one, so a run that
/// starts mid-bucket does not release a burst.
struct RateSlots {
    bucket_secs: i64,
    capacity: u32,
    interval: chrono::Duration,
    /// Bucket → (sends taken, earliest moment of the next one).
    used: HashMap<i64, (u32, DateTime<Utc>)>,
}

impl RateSlots {
    fn new(rate: RateLimit) -> RateSlots {
        let bucket_secs = if rate.per_second * 60.0 >= 1.0 {
            60
        } else {
            3600
        };
        let capacity = ((rate.per_second * bucket_secs as f64).floor() as u32).max(1);
        // In microseconds, so rates above 1,000/s are spaced as finely as they need.
        let interval =
            chrono::Duration::microseconds((1_000_000.0 / rate.per_second).ceil() as i64);
        RateSlots {
            bucket_secs,
            capacity,
            interval,
            used: HashMap::new(),
        }
    }

    /// The first moment at or after `at` with a free slot inside the window; takes it.
    fn take(
        &mut self,
        mut at: DateTime<Utc>,
        window: &ContactWindow,
        tz: Tz,
    ) -> Option<DateTime<Utc>> {
        for _ in 0..100_000 {
            let bucket = at.timestamp().div_euclid(self.bucket_secs);
            let (used, next_free) = self.used.get(&bucket).copied().unwrap_or((0, at));
            if used < self.capacity {
                let candidate = at.max(next_free);
                if candidate.timestamp().div_euclid(self.bucket_secs) == bucket
                    && window.contains(candidate, tz)
                {
                    self.used
                        .insert(bucket, (used + 1, candidate + self.interval));
                    return Some(candidate);
                }
            }
            let next_bucket = DateTime::from_timestamp((bucket + 1) * self.bucket_secs, 0)?;
            at = window.next_open(next_bucket, tz)?;
        }
        None
    }
}

/// Plans one run, one contact at a time.
pub struct Planner<'a> {
    campaign: &'a Campaign,
    default_timezone: Option<TimeZone>,
    run_at: DateTime<Utc>,
    windows: BTreeMap<Channel, ContactWindow>,
    caps: Vec<Cap>,
    slots: BTreeMap<Channel, RateSlots>,
    summary: PlanSummary,
    step_index: BTreeMap<(String, Channel), usize>,
}

impl<'a> Planner<'a> {
    pub fn new(
        campaign: &'a Campaign,
        policy: &ContactPolicy,
        default_timezone: Option<TimeZone>,
        run_at: DateTime<Utc>,
    ) -> Self {
        let windows = Channel::ALL
            .into_iter()
            .map(|c| (c, policy.effective_window(c, campaign.windows.get(&c))))
            .collect();
        let caps = policy
            .caps
            .iter()
            .chain(campaign.caps.iter())
            .cloned()
            .collect();
        let slots = campaign
            .rate_limits
            .iter()
            .map(|(c, r)| (*c, RateSlots::new(*r)))
            .collect();
        let summary = PlanSummary {
            campaign: campaign.id.clone(),
            run_at: Some(run_at),
            later_steps: campaign
                .steps
                .iter()
                .skip(1)
                .map(|s| {
                    let when = s.when.map(|w| format!(" when {w}")).unwrap_or_default();
                    let after = if s.after.secs() == 0 {
                        "right".to_string()
                    } else {
                        s.after.to_string()
                    };
                    format!(
                        "{} ({}) {after} after the previous step{when}",
                        s.id, s.channel
                    )
                })
                .collect(),
            ..PlanSummary::default()
        };
        Planner {
            campaign,
            default_timezone,
            run_at,
            windows,
            caps,
            slots,
            summary,
            step_index: BTreeMap::new(),
        }
    }

    /// The effective window (policy ∩ campaign) for a channel.
    pub fn window(&self, channel: Channel) -> &ContactWindow {
        &self.windows[&channel]
    }

    /// Policy caps followed by the campaign's.
    pub fn caps(&self) -> &[Cap] {
        &self.caps
    }

    /// The first step and the channel routing gives it for this contact.
    pub fn first_step(&self, contact: &Contact) -> (&'a Step, Channel) {
        let step = &self.campaign.steps[0];
        let channel = self
            .campaign
            .route(step, |seg| seg.matches(contact, self.run_at));
        (step, channel)
    }

    /// The policy question for this contact on a channel at the run's start.
    pub fn question<'q>(
        &'q self,
        contact: &'q Contact,
        channel: Channel,
        history: &'q [PastAttempt],
        suppressions: &'q [Suppression],
    ) -> Question<'q> {
        Question {
            contact,
            channel,
            kind: self.campaign.kind,
            window: &self.windows[&channel],
            caps: &self.caps,
            history,
            suppressions,
            default_timezone: self.default_timezone,
            now: self.run_at,
        }
    }

    /// Decides for one audience member and counts the decision. `None` when the contact is
    /// not in the segment (counted apart from skips).
    pub fn consider(
        &mut self,
        contact: &Contact,
        history: &[PastAttempt],
        suppressions: &[Suppression],
        prior: Option<SkipReason>,
    ) -> Option<Decision> {
        self.summary.considered += 1;
        if let Some(seg) = &self.campaign.audience.segment
            && !seg.matches(contact, self.run_at)
        {
            self.summary.not_in_segment += 1;
            return None;
        }
        let decision = self.decide(contact, history, suppressions, prior);
        match &decision {
            Decision::Skipped { reason } => {
                *self
                    .summary
                    .skipped
                    .entry(reason.as_str().to_string())
                    .or_insert(0) += 1
            }
            Decision::Planned {
                step,
                channel,
                at,
                delay,
            } => {
                self.summary.planned += 1;
                let key = (step.clone(), *channel);
                let idx = *self.step_index.entry(key).or_insert_with(|| {
                    self.summary.steps.push(StepPlan {
                        step: step.clone(),
                        channel: *channel,
                        ..StepPlan::default()
                    });
                    self.summary.steps.len() - 1
                });
                let s = &mut self.summary.steps[idx];
                s.contacts += 1;
                let hour = at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(*at);
                *s.by_hour.entry(hour).or_insert(0) += 1;
                if let Some(d) = delay {
                    *s.delayed.entry(d.clone()).or_insert(0) += 1;
                }
                s.first = Some(s.first.map_or(*at, |f| f.min(*at)));
                s.last = Some(s.last.map_or(*at, |l| l.max(*at)));
            }
        }
        Some(decision)
    }

    fn decide(
        &mut self,
        contact: &Contact,
        history: &[PastAttempt],
        suppressions: &[Suppression],
        prior: Option<SkipReason>,
    ) -> Decision {
        let (step, channel) = self.first_step(contact);
        let verdict = decide(&self.question(contact, channel, history, suppressions));
        // A reason found before the policy was asked (an earlier sequence still live, the
        // goal reached...) is reported unless the policy's own reason ranks before it.
        if let Some(reason) = prior {
            return Decision::Skipped {
                reason: match verdict {
                    Verdict::Never { reason: policy } if policy < reason => policy,
                    _ => reason,
                },
            };
        }
        let (at, delay) = match verdict {
            Verdict::Never { reason } => return Decision::Skipped { reason },
            Verdict::Now => (self.run_at, None),
            Verdict::Later { at, reason } => (at, Some(reason)),
        };
        let tz = contact_zone(contact, self.default_timezone).expect("decide checked the zone");
        let mut delay = delay.map(|d| d.as_str().to_string());
        let at = match self.slots.get_mut(&channel) {
            None => at,
            Some(slots) => match slots.take(at, &self.windows[&channel], tz) {
                None => {
                    return Decision::Skipped {
                        reason: SkipReason::WindowNeverOpens,
                    };
                }
                Some(slot) => {
                    // Seconds of spacing inside a minute are pacing, not a delay worth reporting.
                    if slot - at >= chrono::Duration::minutes(1) && delay.is_none() {
                        delay = Some("rate_limit".into());
                    }
                    slot
                }
            },
        };
        Decision::Planned {
            step: step.id.clone(),
            channel,
            at,
            delay,
        }
    }

    pub fn finish(self) -> PlanSummary {
        self.summary
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn a_rate_above_a_thousand_a_second_is_not_slowed_to_one_send_a_millisecond() {
        let mut slots = RateSlots::new(RateLimit {
            per_second: 100_000.0,
        });
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let window = ContactWindow::always();
        let mut last = start;
        for _ in 0..20_000 {
            last = slots.take(start, &window, chrono_tz::UTC).unwrap();
        }
        // 20,000 sends at 100,000/s take 0.2 s, not the 20 s of a millisecond grid.
        assert!(last - start < chrono::Duration::milliseconds(250), "{last}");
        assert!(
            last - start >= chrono::Duration::milliseconds(190),
            "{last}"
        );
    }
}
