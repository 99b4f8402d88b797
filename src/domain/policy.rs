//! The contact policy: the rules that hold across every campaign.
//!
//! Given a contact, a channel, a moment and the contact's history, [`decide`] answers:
//! allowed now, allowed from a later moment (with the reason for the delay), or never
//! (with the reason). The same function runs at plan time and, later, at send time.
//!
//! Guarantees (property-tested below): a moment it allows is inside the effective window,
//! no cap is reached at that moment, and it is never before the moment asked about.
//! A campaign can only tighten the policy: its window is intersected with the quiet
//! hours and its caps are added to the policy's caps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::campaign::CampaignKind;
/// Caps are shared with campaigns, which add their own; they live in their own module.
pub use super::caps::{Cap, CapCounts, CapScope};
use super::contact::{Consent, Contact, Suppression, SuppressionKind};
use super::values::{Channel, ChannelFamily, Span, TimeZone};
use super::window::{ContactWindow, MinuteRange};

// Planning, send time and the desk share one set of skip reasons (see `reason`); the
// policy's verdicts name them from here too.
pub use super::reason::SkipReason;

/// A past attempt towards a contact, from any campaign.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PastAttempt {
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub connected: bool,
    /// The value of the obligation attribute when the attempt was made.
    pub obligation: Option<String>,
}

/// The rules that hold across all campaigns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContactPolicy {
    pub quiet_hours: BTreeMap<ChannelFamily, ContactWindow>,
    pub caps: Vec<Cap>,
}

impl Default for ContactPolicy {
    /// Calls and SMS 08:00-21:00 local time every day; e-mail at any time; at most 7 call
    /// attempts in 7 days per debt (`debt_id`) and 3 connected calls a day per person.
    fn default() -> Self {
        let day = ContactWindow::daily(MinuteRange {
            start: 8 * 60,
            end: 21 * 60,
        });
        ContactPolicy {
            quiet_hours: [
                (ChannelFamily::Call, day.clone()),
                (ChannelFamily::Sms, day),
                (ChannelFamily::Email, ContactWindow::always()),
            ]
            .into_iter()
            .collect(),
            caps: vec![
                Cap {
                    family: Some(ChannelFamily::Call),
                    max: 7,
                    period: Span::from_secs(7 * 86_400),
                    scope: CapScope::Obligation("debt_id".into()),
                    counts: CapCounts::Attempts,
                    origin: "policy".into(),
                },
                Cap {
                    family: Some(ChannelFamily::Call),
                    max: 3,
                    period: Span::from_secs(86_400),
                    scope: CapScope::Contact,
                    counts: CapCounts::Connected,
                    origin: "policy".into(),
                },
            ],
        }
    }
}

impl ContactPolicy {
    /// The policy's window for a channel, tightened by the campaign's own window if any.
    pub fn effective_window(
        &self,
        channel: Channel,
        campaign_window: Option<&ContactWindow>,
    ) -> ContactWindow {
        let base = self
            .quiet_hours
            .get(&channel.family())
            .cloned()
            .unwrap_or_else(ContactWindow::always);
        match campaign_window {
            Some(w) => base.intersect(w),
            None => base,
        }
    }
}

/// Why an allowed contact has to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayReason {
    OutsideWindow,
    CapReached,
}

impl DelayReason {
    /// The reason as `herald why` and the plan summary print it.
    pub fn as_str(self) -> &'static str {
        match self {
            DelayReason::OutsideWindow => "outside_window",
            DelayReason::CapReached => "cap_reached",
        }
    }
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Now,
    Later {
        at: DateTime<Utc>,
        reason: DelayReason,
    },
    Never {
        reason: SkipReason,
    },
}

impl Verdict {
    /// The moment the verdict allows, if any.
    pub fn moment(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Verdict::Now => Some(now),
            Verdict::Later { at, .. } => Some(*at),
            Verdict::Never { .. } => None,
        }
    }
}

/// Everything [`decide`] needs to know about one contact and one channel.
pub struct Question<'a> {
    pub contact: &'a Contact,
    pub channel: Channel,
    pub kind: CampaignKind,
    /// The policy's window tightened by the campaign's (see [`ContactPolicy::effective_window`]).
    pub window: &'a ContactWindow,
    /// The policy's caps followed by the campaign's.
    pub caps: &'a [Cap],
    pub history: &'a [PastAttempt],
    /// Suppression entries that may concern the contact; inactive or unrelated ones are ignored.
    pub suppressions: &'a [Suppression],
    /// Used when the contact has no time zone of their own.
    pub default_timezone: Option<TimeZone>,
    pub now: DateTime<Utc>,
}

/// The contact's time zone, or the configured default.
pub fn contact_zone(contact: &Contact, default: Option<TimeZone>) -> Option<Tz> {
    contact.timezone.or(default).map(|t| t.0)
}

/// Reasons that rule a contact out on a channel whatever the moment.
pub fn exclusion(q: &Question<'_>) -> Option<SkipReason> {
    let family = q.channel.family();
    let mut strongest: Option<SkipReason> = None;
    for s in q
        .suppressions
        .iter()
        .filter(|s| s.applies(q.contact, family, q.now))
    {
        let reason = match s.kind {
            SuppressionKind::OptOut => SkipReason::OptedOut,
            SuppressionKind::Dnc => SkipReason::Dnc,
            SuppressionKind::Bounce => SkipReason::Bounced,
        };
        // An opt-out is the person's own word: report it ahead of a DNC listing.
        strongest = Some(strongest.map_or(reason, |r| r.min(reason)));
    }
    if let Some(r) = strongest {
        return Some(r);
    }
    let consent = q.contact.consent.for_family(family);
    let consent_ok = match q.kind {
        // Marketing needs an explicit opt-in; service messages need the absence of a refusal.
        CampaignKind::Promotion => consent == Consent::Granted,
        _ => consent != Consent::Denied,
    };
    if !consent_ok {
        return Some(SkipReason::NoConsent);
    }
    match family {
        ChannelFamily::Sms | ChannelFamily::Call if q.contact.phone.is_none() => {
            return Some(SkipReason::NoPhone);
        }
        ChannelFamily::Email if q.contact.email.is_none() => return Some(SkipReason::NoEmail),
        _ => {}
    }
    if contact_zone(q.contact, q.default_timezone).is_none() {
        return Some(SkipReason::UnknownTimezone);
    }
    if q.window.never_opens() {
        return Some(SkipReason::WindowNeverOpens);
    }
    None
}

/// Allowed now, later (and why), or never (and why).
pub fn decide(q: &Question<'_>) -> Verdict {
    if let Some(reason) = exclusion(q) {
        return Verdict::Never { reason };
    }
    let tz = contact_zone(q.contact, q.default_timezone).expect("checked by exclusion");
    let mut at = q.now;
    let mut first_delay: Option<DelayReason> = None;
    // Alternate between the window and the caps until both agree; each round moves forward.
    for _ in 0..256 {
        let Some(open) = q.window.next_open(at, tz) else {
            return Verdict::Never {
                reason: SkipReason::WindowNeverOpens,
            };
        };
        if open > at {
            first_delay.get_or_insert(DelayReason::OutsideWindow);
        }
        at = open;
        match caps_free_at(q, at) {
            None => {
                return match first_delay {
                    None => Verdict::Now,
                    Some(reason) => Verdict::Later { at, reason },
                };
            }
            Some(free) => {
                first_delay.get_or_insert(DelayReason::CapReached);
                at = free;
            }
        }
    }
    Verdict::Never {
        reason: SkipReason::WindowNeverOpens,
    }
}

/// How full one cap is for a contact at a moment.
#[derive(Clone, Debug, Serialize)]
pub struct CapUse {
    pub cap: String,
    pub used: u32,
    pub max: u32,
    /// When the cap next has room, if it is full.
    pub frees_at: Option<DateTime<Utc>>,
}

/// The use of every cap that applies to the contact on the channel at `at`.
pub fn cap_usage(q: &Question<'_>, at: DateTime<Utc>) -> Vec<CapUse> {
    q.caps
        .iter()
        .filter_map(|cap| {
            let counted = counted_attempts(q, cap, at)?;
            let used = counted.len() as u32;
            let frees_at = (used >= cap.max)
                .then(|| counted[(used - cap.max) as usize] + cap.period.to_chrono());
            Some(CapUse {
                cap: cap.to_string(),
                used,
                max: cap.max,
                frees_at,
            })
        })
        .collect()
}

/// `None` when every cap has room at `at`, otherwise the latest moment one of the full caps
/// frees up (a later round re-checks them all).
fn caps_free_at(q: &Question<'_>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cap_usage(q, at)
        .into_iter()
        .filter_map(|u| u.frees_at)
        .max()
}

/// Times of the attempts a cap counts in the period ending at `at`, oldest first; `None`
/// when the cap does not apply to this contact and channel.
fn counted_attempts(q: &Question<'_>, cap: &Cap, at: DateTime<Utc>) -> Option<Vec<DateTime<Utc>>> {
    if cap.family.is_some_and(|f| f != q.channel.family()) {
        return None;
    }
    let obligation = match &cap.scope {
        CapScope::Contact => None,
        CapScope::Obligation(attr) => Some(q.contact.attributes.get(attr)?.to_string()),
    };
    let since = at - cap.period.to_chrono();
    let mut times: Vec<DateTime<Utc>> = q
        .history
        .iter()
        .filter(|h| h.at > since && h.at <= at)
        .filter(|h| cap.family.is_none_or(|f| f == h.channel.family()))
        .filter(|h| cap.counts == CapCounts::Attempts || h.connected)
        .filter(|h| obligation.is_none() || h.obligation == obligation)
        .map(|h| h.at)
        .collect();
    times.sort();
    Some(times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{AttributeValue, Consents, SuppressionTarget};
    use crate::domain::values::PhoneNumber;
    use chrono::{Duration, TimeZone as _};
    use proptest::prelude::*;

    fn person() -> Contact {
        Contact {
            id: 1,
            external_id: "c1".into(),
            first_name: Some("Ana".into()),
            last_name: None,
            phone: Some(PhoneNumber::parse("+447400123456", None).unwrap()),
            email: None,
            locale: Some("en".into()),
            timezone: Some(TimeZone::parse("Europe/London").unwrap()),
            attributes: [("debt_id".to_string(), AttributeValue::Text("D1".into()))]
                .into_iter()
                .collect(),
            consent: Consents::default(),
            tags: vec![],
        }
    }

    fn ask<'a>(
        contact: &'a Contact,
        window: &'a ContactWindow,
        caps: &'a [Cap],
        history: &'a [PastAttempt],
        suppressions: &'a [Suppression],
        now: DateTime<Utc>,
    ) -> Question<'a> {
        Question {
            contact,
            channel: Channel::VoiceBot,
            kind: CampaignKind::Collection,
            window,
            caps,
            history,
            suppressions,
            default_timezone: None,
            now,
        }
    }

    #[test]
    fn an_opt_out_outranks_a_dnc_entry_and_consent() {
        let c = person();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let entry = |kind| Suppression {
            target: SuppressionTarget::Phone(c.phone.clone().unwrap()),
            kind,
            channel: None,
            reason: "test".into(),
            source: "test".into(),
            created_at: now,
            expires_at: None,
        };
        let sup = [entry(SuppressionKind::Dnc), entry(SuppressionKind::OptOut)];
        let w = ContactPolicy::default().effective_window(Channel::VoiceBot, None);
        let v = decide(&ask(&c, &w, &[], &[], &sup, now));
        assert_eq!(
            v,
            Verdict::Never {
                reason: SkipReason::OptedOut
            }
        );
    }

    #[test]
    fn an_expired_dnc_entry_no_longer_suppresses() {
        let c = person();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let sup = [Suppression {
            target: SuppressionTarget::Contact("c1".into()),
            kind: SuppressionKind::Dnc,
            channel: None,
            reason: "complaint".into(),
            source: "test".into(),
            created_at: now - Duration::days(40),
            expires_at: Some(now - Duration::days(1)),
        }];
        let w = ContactWindow::always();
        assert_eq!(decide(&ask(&c, &w, &[], &[], &sup, now)), Verdict::Now);
    }

    #[test]
    fn promotions_need_explicit_consent_but_collections_do_not() {
        let c = person();
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap();
        let w = ContactWindow::always();
        let mut q = ask(&c, &w, &[], &[], &[], now);
        assert_eq!(decide(&q), Verdict::Now);
        q.kind = CampaignKind::Promotion;
        assert_eq!(
            decide(&q),
            Verdict::Never {
                reason: SkipReason::NoConsent
            }
        );
    }

    #[test]
    fn a_full_obligation_cap_waits_until_the_oldest_attempt_leaves_the_period() {
        let c = person();
        let now = Utc.with_ymd_and_hms(2026, 6, 10, 10, 0, 0).unwrap();
        let policy = ContactPolicy::default();
        let history: Vec<PastAttempt> = (0..7)
            .map(|i| PastAttempt {
                at: now - Duration::days(6) + Duration::hours(i),
                channel: Channel::Agent,
                connected: false,
                obligation: Some("D1".into()),
            })
            .collect();
        let w = ContactWindow::always();
        let v = decide(&ask(&c, &w, &policy.caps, &history, &[], now));
        assert_eq!(
            v,
            Verdict::Later {
                at: now + Duration::days(1),
                reason: DelayReason::CapReached
            }
        );
        // Attempts on another debt do not count towards this one.
        let other: Vec<PastAttempt> = history
            .iter()
            .cloned()
            .map(|mut h| {
                h.obligation = Some("D2".into());
                h
            })
            .collect();
        assert_eq!(
            decide(&ask(&c, &w, &policy.caps, &other, &[], now)),
            Verdict::Now
        );
    }

    fn arb_window() -> impl Strategy<Value = ContactWindow> {
        (
            proptest::collection::btree_set(0u8..7, 0..=7),
            proptest::collection::vec((0u16..1440, 1u16..600), 0..3),
            proptest::collection::vec(0i64..60, 0..4),
        )
            .prop_map(|(days, ranges, holidays)| {
                let days = days
                    .into_iter()
                    .map(|d| chrono::Weekday::try_from(d).unwrap());
                let ranges = ranges
                    .into_iter()
                    .map(|(s, len)| MinuteRange {
                        start: s,
                        end: (s + len).min(1440),
                    })
                    .collect();
                let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
                ContactWindow::new(
                    days,
                    ranges,
                    holidays.into_iter().map(|h| base + Duration::days(h * 7)),
                )
            })
    }

    fn arb_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            chrono_tz::Europe::London,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Pacific::Chatham,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::UTC,
        ])
    }

    proptest! {
        #[test]
        fn the_policy_never_allows_a_moment_outside_the_window_or_past_a_cap(
            window in arb_window(),
            tz in arb_zone(),
            start in 0i64..(365 * 86_400),
            past in proptest::collection::vec((0i64..(9 * 86_400), any::<bool>(), 0usize..4), 0..20),
            max in 1u32..5,
            period_h in 1i64..200,
        ) {
            let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(start);
            let mut c = person();
            c.timezone = Some(TimeZone(tz));
            let channels = [Channel::VoiceBot, Channel::Agent, Channel::Sms, Channel::Email];
            let history: Vec<PastAttempt> = past
                .iter()
                .map(|(ago, connected, ch)| PastAttempt {
                    at: now - Duration::seconds(*ago),
                    channel: channels[*ch],
                    connected: *connected,
                    obligation: Some("D1".into()),
                })
                .collect();
            let caps = vec![
                Cap { family: Some(ChannelFamily::Call), max, period: Span::from_secs(period_h * 3600), scope: CapScope::Obligation("debt_id".into()), counts: CapCounts::Attempts, origin: "t".into() },
                Cap { family: None, max: max + 1, period: Span::from_secs(86_400), scope: CapScope::Contact, counts: CapCounts::Connected, origin: "t".into() },
            ];
            let q = ask(&c, &window, &caps, &history, &[], now);
            match decide(&q) {
                Verdict::Never { reason } => prop_assert_eq!(reason, SkipReason::WindowNeverOpens),
                verdict => {
                    let at = verdict.moment(now).unwrap();
                    prop_assert!(at >= now);
                    prop_assert!(window.contains(at, tz), "{} is outside {}", at, window);
                    for usage in cap_usage(&q, at) {
                        prop_assert!(usage.used < usage.max, "cap {} full at {}", usage.cap, at);
                    }
                    if verdict == Verdict::Now {
                        prop_assert!(window.contains(now, tz));
                    }
                }
            }
        }

        #[test]
        fn a_suppression_in_force_always_wins(
            kind in prop::sample::select(vec![SuppressionKind::Dnc, SuppressionKind::OptOut, SuppressionKind::Bounce]),
            target in 0usize..2,
            family in prop::sample::select(vec![None, Some(ChannelFamily::Call), Some(ChannelFamily::Sms)]),
            expires_in_h in prop::option::of(-48i64..48),
            channel in prop::sample::select(vec![Channel::Sms, Channel::VoiceBot, Channel::Agent]),
            start in 0i64..(365 * 86_400),
        ) {
            let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(start);
            let c = person();
            let target = match target {
                0 => SuppressionTarget::Phone(c.phone.clone().unwrap()),
                _ => SuppressionTarget::Contact(c.external_id.clone()),
            };
            let entry = Suppression {
                target,
                kind,
                channel: family,
                reason: "p".into(),
                source: "p".into(),
                created_at: now - Duration::days(1),
                expires_at: expires_in_h.map(|h| now + Duration::hours(h)),
            };
            let w = ContactWindow::always();
            let mut q = ask(&c, &w, &[], &[], std::slice::from_ref(&entry), now);
            q.channel = channel;
            let in_force = expires_in_h.is_none_or(|h| h > 0) && family.is_none_or(|f| f == channel.family());
            let verdict = decide(&q);
            if in_force {
                prop_assert!(matches!(verdict, Verdict::Never { reason: SkipReason::Dnc | SkipReason::OptedOut | SkipReason::Bounced }), "{:?}", verdict);
            } else {
                prop_assert_eq!(verdict, Verdict::Now);
            }
        }

        #[test]
        fn next_open_is_the_earliest_open_moment(window in arb_window(), tz in arb_zone(), start in 0i64..(365 * 86_400), probes in proptest::collection::vec(0.0f64..1.0, 16)) {
            let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(start);
            if let Some(open) = window.next_open(at, tz) {
                prop_assert!(open >= at);
                prop_assert!(window.contains(open, tz));
                let gap = (open - at).num_seconds();
                for p in probes {
                    let probe = at + Duration::seconds((gap as f64 * p) as i64);
                    if probe < open {
                        prop_assert!(!window.contains(probe, tz), "{} was open before {}", probe, open);
                    }
                }
            } else {
                prop_assert!(window.never_opens(), "{} has days and hours but never opened", window);
            }
        }
    }
}
