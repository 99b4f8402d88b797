//! Why an attempt is not sent now: the closed sets of reasons the ledger records.
//!
//! [`SkipReason`] says why a contact is not contacted at all: by a run (at plan time), by
//! one attempt (at send time), or by a call waiting at the agent desk. [`RescheduleReason`]
//! says why a send waits for a later moment.
//!
//! Guarantee: the strings ([`SkipReason::as_str`], [`RescheduleReason::as_str`], and the
//! serde names, which are the same) are written to the ledger and read back by
//! `herald why`, the exports, the reports and the tests. A reason may be added; an
//! existing one never changes its string.

use std::fmt;

use serde::Serialize;

use super::policy::DelayReason;

/// Why a contact is not contacted (by a run, or by one attempt of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    // Declaration order is precedence: the first reason found is the one reported.
    OptedOut,
    Dnc,
    Bounced,
    NoConsent,
    NoPhone,
    NoEmail,
    UnknownTimezone,
    WindowNeverOpens,
    NotInSegment,
    AlreadyInRun,
    InSequence,
    RecentlyContacted,
    GoalReached,
    Exited,
    // Found only at send time: the attempt no longer fits its campaign or conversation.
    CampaignNotLoaded,
    ContactDeleted,
    ConditionNotMet,
    StepRemoved,
    Holdout,
    AlreadyAnswered,
    QuestionRemoved,
}

impl SkipReason {
    /// Every reason, in precedence order.
    pub const ALL: [SkipReason; 21] = [
        SkipReason::OptedOut,
        SkipReason::Dnc,
        SkipReason::Bounced,
        SkipReason::NoConsent,
        SkipReason::NoPhone,
        SkipReason::NoEmail,
        SkipReason::UnknownTimezone,
        SkipReason::WindowNeverOpens,
        SkipReason::NotInSegment,
        SkipReason::AlreadyInRun,
        SkipReason::InSequence,
        SkipReason::RecentlyContacted,
        SkipReason::GoalReached,
        SkipReason::Exited,
        SkipReason::CampaignNotLoaded,
        SkipReason::ContactDeleted,
        SkipReason::ConditionNotMet,
        SkipReason::StepRemoved,
        SkipReason::Holdout,
        SkipReason::AlreadyAnswered,
        SkipReason::QuestionRemoved,
    ];

    /// The reason as the ledger stores it (`opted_out`, `holdout`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Dnc => "dnc",
            SkipReason::OptedOut => "opted_out",
            SkipReason::Bounced => "bounced",
            SkipReason::NoConsent => "no_consent",
            SkipReason::NoPhone => "no_phone",
            SkipReason::NoEmail => "no_email",
            SkipReason::UnknownTimezone => "unknown_timezone",
            SkipReason::WindowNeverOpens => "window_never_opens",
            SkipReason::NotInSegment => "not_in_segment",
            SkipReason::AlreadyInRun => "already_in_run",
            SkipReason::InSequence => "in_sequence",
            SkipReason::RecentlyContacted => "recently_contacted",
            SkipReason::GoalReached => "goal_reached",
            SkipReason::Exited => "exited",
            SkipReason::CampaignNotLoaded => "campaign_not_loaded",
            SkipReason::ContactDeleted => "contact_deleted",
            SkipReason::ConditionNotMet => "condition_not_met",
            SkipReason::StepRemoved => "step_removed",
            SkipReason::Holdout => "holdout",
            SkipReason::AlreadyAnswered => "already_answered",
            SkipReason::QuestionRemoved => "question_removed",
        }
    }

    /// The reason in a sentence, for `herald plan` and `herald why`.
    pub fn explain(self) -> &'static str {
        match self {
            SkipReason::Dnc => "a do-not-contact entry matches the contact",
            SkipReason::OptedOut => "the contact opted out of this channel",
            SkipReason::Bounced => "the address bounced",
            SkipReason::NoConsent => {
                "the contact has not given the consent this campaign kind needs"
            }
            SkipReason::NoPhone => "the contact has no phone number",
            SkipReason::NoEmail => "the contact has no e-mail address",
            SkipReason::UnknownTimezone => {
                "the contact's time zone is unknown and no default is configured"
            }
            SkipReason::WindowNeverOpens => "the contact window never opens within 400 days",
            SkipReason::NotInSegment => "the contact does not match the audience filter",
            SkipReason::AlreadyInRun => "the contact already has an attempt in this run",
            SkipReason::InSequence => {
                "the contact is still inside the sequence an earlier run of this campaign started"
            }
            SkipReason::RecentlyContacted => {
                "the campaign contacted this person within its recontact_after period"
            }
            SkipReason::GoalReached => "the campaign's goal holds for the contact",
            SkipReason::Exited => "one of the campaign's exit conditions holds for the contact",
            SkipReason::CampaignNotLoaded => "the attempt's campaign is no longer loaded",
            SkipReason::ContactDeleted => "the contact was deleted",
            SkipReason::ConditionNotMet => "the step's condition does not hold for the contact",
            SkipReason::StepRemoved => "the step is no longer in the campaign",
            SkipReason::Holdout => "the contact is in the control group, never contacted",
            SkipReason::AlreadyAnswered => "the contact already answered the question",
            SkipReason::QuestionRemoved => "the question is no longer in the survey",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a send waits for a later moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RescheduleReason {
    /// The contact window is closed now (quiet hours, the campaign's window, a holiday).
    OutsideWindow,
    /// A frequency cap is reached until a later moment.
    CapReached,
    /// The channel's provider is failing: its circuit breaker holds sends back.
    ProviderPaused,
    /// The channel's shared sending rate has no token left now.
    ChannelRateLimit,
    /// The provider failed the send for now (a temporary error or throttling).
    ProviderUnavailable,
}

impl RescheduleReason {
    /// The reason as the ledger stores it (`outside_window`, `channel_rate_limit`...).
    pub fn as_str(self) -> &'static str {
        match self {
            RescheduleReason::OutsideWindow => "outside_window",
            RescheduleReason::CapReached => "cap_reached",
            RescheduleReason::ProviderPaused => "provider_paused",
            RescheduleReason::ChannelRateLimit => "channel_rate_limit",
            RescheduleReason::ProviderUnavailable => "provider_unavailable",
        }
    }
}

impl From<DelayReason> for RescheduleReason {
    fn from(reason: DelayReason) -> Self {
        match reason {
            DelayReason::OutsideWindow => RescheduleReason::OutsideWindow,
            DelayReason::CapReached => RescheduleReason::CapReached,
        }
    }
}

impl fmt::Display for RescheduleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_skip_reason_is_stored_as_its_serde_name_and_no_two_share_one() {
        let mut seen = std::collections::BTreeSet::new();
        for reason in SkipReason::ALL {
            let serde_name = serde_json::to_value(reason).unwrap();
            assert_eq!(serde_name, reason.as_str(), "{reason:?}");
            assert!(seen.insert(reason.as_str()), "{reason:?} repeats a string");
        }
    }

    #[test]
    fn the_send_time_reasons_keep_the_strings_the_ledger_already_holds() {
        let strings: Vec<&str> = SkipReason::ALL[14..].iter().map(|r| r.as_str()).collect();
        assert_eq!(
            strings,
            [
                "campaign_not_loaded",
                "contact_deleted",
                "condition_not_met",
                "step_removed",
                "holdout",
                "already_answered",
                "question_removed",
            ]
        );
    }

    #[test]
    fn a_policy_delay_keeps_its_string_as_a_reschedule_reason() {
        for delay in [DelayReason::OutsideWindow, DelayReason::CapReached] {
            assert_eq!(RescheduleReason::from(delay).as_str(), delay.as_str());
        }
    }
}
