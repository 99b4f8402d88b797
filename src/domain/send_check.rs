//! The send-time check: may one claimed attempt be sent now?
//!
//! Planning decided whom a run contacts; hours or days can pass before an attempt is due,
//! and the world moves meanwhile: the person opts out, answers the survey, is deleted; the
//! campaign's definition changes; the window closes. [`may_send`] asks again, from plain
//! inputs (the attempt, its campaign, the contact, the suppressions, the contact's
//! history, the run's earlier attempts, the survey's answers, the moment), and answers
//! with a [`SendVerdict`]: send, skip (with the [`SkipReason`] the ledger records) or
//! reschedule (with the moment and the [`RescheduleReason`]). [`may_call`] is the same
//! check for a call that waited at the agent desk.
//!
//! Nothing here reads a clock or a store: the engine loads what the check needs and does
//! what needs the world after a `Send` (rendering, the provider's breaker, the channel's
//! shared rate, the send).
//!
//! The checks, in order; the first that fails is the one reported:
//! 1. the campaign is loaded, the contact exists (else `campaign_not_loaded`,
//!    `contact_deleted`);
//! 2. nobody opted out earlier in this run (`opted_out`), a `no_reply` step finds no reply
//!    or connection to an earlier step (`condition_not_met`);
//! 3. the step is still in the campaign (`step_removed`), the contact is not in the
//!    control group (`holdout`), the campaign's goal and exit conditions do not hold for
//!    the contact (`goal_reached`, `exited`: nobody is dunned after paying);
//! 4. a survey follow-up's question is still unanswered (`already_answered`), a condition
//!    on the survey's answers holds for the answers as they are now (`condition_not_met`);
//! 5. the contact policy: suppressions, consent, the window, the caps (a survey follow-up
//!    answers the person's own reply, so caps do not hold for it);
//! 6. a survey follow-up's question is still in the survey (`question_removed`).
//!
//! This order is the order of the checks, not the precedence of the reasons that planning
//! reports: at send time a paid debt (`goal_reached`) is reported even for someone who has
//! also opted out since, as the outcome is the same (nothing is sent).

use chrono::{DateTime, Utc};

use super::campaign::{Campaign, HOLDOUT, Question, Step};
use super::contact::{Contact, Suppression};
use super::ledger::Attempt;
use super::outcome::Outcome;
use super::policy::{self, ContactPolicy, PastAttempt, Verdict};
use super::reason::{RescheduleReason, SkipReason};
use super::survey::{self, Response};
use super::values::TimeZone;

/// What the check says about one attempt now. `T` is what a send goes on with: the
/// dispatcher's [`Sendable`], nothing for the desk.
#[derive(Clone, Debug, PartialEq)]
pub enum SendVerdict<T> {
    /// It may go now.
    Send(T),
    /// It never goes: close it as skipped, with the reason.
    Skip(SkipReason),
    /// It may go from `not_before`.
    Reschedule {
        not_before: DateTime<Utc>,
        reason: RescheduleReason,
    },
}

/// What the dispatcher sends, found by the check.
#[derive(Clone, Debug, PartialEq)]
pub struct Sendable<'a> {
    pub campaign: &'a Campaign,
    pub contact: &'a Contact,
    pub step: &'a Step,
    /// What a survey follow-up asks, in place of the step's template.
    pub follow_up: Option<FollowUp<'a>>,
}

/// The survey question a follow-up message asks.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUp<'a> {
    /// The attempt's prompt: `ask:QUESTION` or `clarify:QUESTION`.
    pub code: &'a str,
    pub question: &'a Question,
}

impl FollowUp<'_> {
    /// The message's text: the question, or its clarifying re-ask.
    pub fn text(&self) -> String {
        survey::prompt_text(self.question, self.code.starts_with("clarify:"))
    }
}

/// Everything [`may_send`] reads. What a send goes on with lives for `'a`; what the check
/// only reads, for `'b`.
pub struct SendCheck<'a, 'b> {
    pub attempt: &'a Attempt,
    /// `None` when the attempt's campaign is not loaded any more.
    pub campaign: Option<&'a Campaign>,
    /// `None` when the contact was deleted.
    pub contact: Option<&'a Contact>,
    pub policy: &'b ContactPolicy,
    /// Used when the contact has no time zone of their own.
    pub default_timezone: Option<TimeZone>,
    /// Suppression entries that may concern the contact; others are ignored.
    pub suppressions: &'b [Suppression],
    /// The contact's past attempts, from every campaign, for the caps.
    pub history: &'b [PastAttempt],
    /// Attempts of the attempt's run: its conversation so far. Other contacts' attempts
    /// and the attempt itself may be in it; they are ignored.
    pub earlier: &'b [Attempt],
    /// The contact's survey answers in this run; read only when [`reads_answers`] says
    /// so, empty otherwise.
    pub answers: &'b [Response],
    pub now: DateTime<Utc>,
}

/// Does the check of this attempt read the contact's survey answers? (A follow-up
/// message, or a step on a condition about the answers, in a campaign with a survey.)
pub fn reads_answers(attempt: &Attempt, campaign: &Campaign) -> bool {
    campaign.survey.is_some()
        && (attempt.prompt.is_some()
            || attempt
                .condition
                .is_some_and(|c| c.survey_question_needed().is_some()))
}

/// May this attempt be sent now? (See the module's documentation for the checks.)
pub fn may_send<'a>(check: &SendCheck<'a, '_>) -> SendVerdict<Sendable<'a>> {
    use SendVerdict::Skip;
    let attempt = check.attempt;
    let Some(campaign) = check.campaign else {
        return Skip(SkipReason::CampaignNotLoaded);
    };
    let Some(contact) = check.contact else {
        return Skip(SkipReason::ContactDeleted);
    };
    let earlier: Vec<&Attempt> = check
        .earlier
        .iter()
        .filter(|a| {
            a.run_id == attempt.run_id && a.contact_id == attempt.contact_id && a.id != attempt.id
        })
        .collect();
    // An opt-out in this run stops every later step, whatever its channel.
    if earlier.iter().any(|a| a.outcome == Some(Outcome::OptedOut)) {
        return Skip(SkipReason::OptedOut);
    }
    // A `no_reply` step goes only to those who did not answer the step before.
    if attempt.condition == Some(Outcome::NoReply)
        && earlier.iter().any(|a| {
            a.step_index < attempt.step_index
                && (a.connected || a.outcome == Some(Outcome::Replied))
        })
    {
        return Skip(SkipReason::ConditionNotMet);
    }
    let Some(step) = campaign.steps.get(attempt.step_index) else {
        return Skip(SkipReason::StepRemoved);
    };
    // The control group is recorded, never contacted.
    if attempt.variant.as_deref() == Some(HOLDOUT) {
        return Skip(SkipReason::Holdout);
    }
    // The goal reached (the debt paid), or an exit condition: the rest of the sequence
    // is not sent.
    if let Some(reason) = campaign.finished_for(contact, check.now) {
        return Skip(reason);
    }
    // Survey conditions are read against the answers as they are now: a follow-up to a
    // question answered meanwhile, or a step for detractors when the person has since
    // changed their score, is not sent.
    if let Some(survey) = &campaign.survey
        && reads_answers(attempt, campaign)
    {
        if let Some(q) =
            survey::asked_by(survey, attempt.prompt.as_deref()).filter(|_| attempt.prompt.is_some())
            && check.answers.iter().any(|r| r.question == q.id)
        {
            return Skip(SkipReason::AlreadyAnswered);
        }
        if let Some(condition) = attempt.condition
            && !survey::condition_holds(survey, check.answers, condition)
        {
            return Skip(SkipReason::ConditionNotMet);
        }
    }
    // The policy again, at send time: suppressions, consent, window, caps. A survey
    // follow-up answers the person's own reply: windows, consent and suppressions hold for
    // it, frequency caps do not.
    let window = check
        .policy
        .effective_window(attempt.channel, campaign.windows.get(&attempt.channel));
    let caps: Vec<_> = if attempt.prompt.is_some() {
        Vec::new()
    } else {
        check
            .policy
            .caps
            .iter()
            .chain(campaign.caps.iter())
            .cloned()
            .collect()
    };
    let question = policy::Question {
        contact,
        channel: attempt.channel,
        kind: campaign.kind,
        window: &window,
        caps: &caps,
        history: check.history,
        suppressions: check.suppressions,
        default_timezone: check.default_timezone,
        now: check.now,
    };
    if let Some(held) = held_by_policy(&question) {
        return held;
    }
    // A follow-up says its question, not the step's template; a campaign that lost its
    // survey sends the step's template as before.
    let follow_up = match (attempt.prompt.as_deref(), &campaign.survey) {
        (Some(code), Some(survey)) => match survey::asked_by(survey, Some(code)) {
            Some(question) => Some(FollowUp { code, question }),
            None => return Skip(SkipReason::QuestionRemoved),
        },
        _ => None,
    };
    SendVerdict::Send(Sendable {
        campaign,
        contact,
        step,
        follow_up,
    })
}

/// Everything [`may_call`] reads.
pub struct DeskCheck<'a> {
    pub attempt: &'a Attempt,
    pub campaign: &'a Campaign,
    pub contact: &'a Contact,
    pub policy: &'a ContactPolicy,
    /// Used when the contact has no time zone of their own.
    pub default_timezone: Option<TimeZone>,
    /// Suppression entries that may concern the contact; others are ignored.
    pub suppressions: &'a [Suppression],
    pub now: DateTime<Utc>,
}

/// May a call that waited at the agent desk be made now? The campaign's goal and exit
/// conditions (a debt paid while the call waited) and the contact policy are asked again
/// (suppressions, consent, the call window on the person's clock); caps are left out,
/// because the call was counted when it was placed.
pub fn may_call(check: &DeskCheck<'_>) -> SendVerdict<()> {
    if let Some(reason) = check.campaign.finished_for(check.contact, check.now) {
        return SendVerdict::Skip(reason);
    }
    let attempt = check.attempt;
    let window = check.policy.effective_window(
        attempt.channel,
        check.campaign.windows.get(&attempt.channel),
    );
    let question = policy::Question {
        contact: check.contact,
        channel: attempt.channel,
        kind: check.campaign.kind,
        window: &window,
        caps: &[],
        history: &[],
        suppressions: check.suppressions,
        default_timezone: check.default_timezone,
        now: check.now,
    };
    held_by_policy(&question).unwrap_or(SendVerdict::Send(()))
}

/// The contact policy's verdict when it holds the send back: a skip for a reason that
/// rules the contact out, a reschedule for a closed window or a reached cap.
fn held_by_policy<T>(question: &policy::Question<'_>) -> Option<SendVerdict<T>> {
    match policy::decide(question) {
        Verdict::Now => None,
        Verdict::Later { at, reason } => Some(SendVerdict::Reschedule {
            not_before: at,
            reason: reason.into(),
        }),
        Verdict::Never { reason } => Some(SendVerdict::Skip(reason)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::domain::campaign::{CampaignDef, QuestionKind};
    use crate::domain::contact::{Consents, SuppressionKind, SuppressionTarget};
    use crate::domain::ledger::AttemptState;
    use crate::domain::segment::Segment;
    use crate::domain::values::{Channel, EmailAddress, PhoneNumber};

    /// An NPS survey by SMS with a comment question, an e-mail reminder to those who do
    /// not reply, and a step for detractors; at most one SMS a day per person.
    const SURVEY: &str = r#"
kind = "survey"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[[steps]]
id = "ask"
channel = "sms"
template = "nps_survey"
[[steps]]
id = "remind"
channel = "email"
template = "nps_reminder"
after = "24h"
when = "no_reply"
[[steps]]
id = "sorry"
channel = "sms"
template = "sorry"
after = "1h"
when = "nps_detractor"
[[caps]]
channel = "sms"
max = 1
per = "1d"
[survey]
[[survey.questions]]
id = "nps"
kind = "nps"
text = "How likely are you to recommend us? (0-10)"
[[survey.questions]]
id = "why"
kind = "text"
text = "Why?"
"#;

    fn campaign() -> Campaign {
        toml::from_str::<CampaignDef>(SURVEY)
            .unwrap()
            .check("nps")
            .unwrap()
    }

    fn person() -> Contact {
        Contact {
            id: 1,
            external_id: "p1".into(),
            first_name: Some("Ana".into()),
            last_name: None,
            phone: Some(PhoneNumber::parse("+447400123456", None).unwrap()),
            email: Some(EmailAddress::parse("ana@example.com").unwrap()),
            locale: Some("en".into()),
            timezone: Some(TimeZone::parse("Europe/London").unwrap()),
            attributes: Default::default(),
            consent: Consents::default(),
            tags: vec![],
        }
    }

    /// Tuesday 1 December 2026, 10:00 in London: inside the SMS window.
    fn morning() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    /// The first attempt of step `step_index` of run 1 for contact 1.
    fn attempt(step_index: usize) -> Attempt {
        let c = campaign();
        let step = &c.steps[step_index.min(c.steps.len() - 1)];
        Attempt {
            id: 10 + step_index as i64,
            run_id: 1,
            campaign: "nps".into(),
            contact_id: 1,
            step: step.id.clone(),
            step_index,
            channel: step.channel,
            attempt_no: 1,
            not_before: morning(),
            state: AttemptState::Sending,
            idempotency_key: format!("key-{step_index}"),
            obligation: None,
            after_attempt: None,
            condition: step.when,
            variant: None,
            prompt: None,
            connected: false,
            sent_at: None,
            provider_ref: None,
            outcome: None,
            reason: None,
        }
    }

    fn follow_up(prompt: &str) -> Attempt {
        Attempt {
            id: 20,
            attempt_no: survey::FOLLOW_UP_BASE + 1,
            prompt: Some(prompt.into()),
            ..attempt(0)
        }
    }

    fn answer(question: &str, score: Option<i64>) -> Response {
        Response {
            question: question.into(),
            kind: if score.is_some() {
                QuestionKind::Nps
            } else {
                QuestionKind::Text
            },
            score,
            answer: score.map_or("fine".into(), |s| s.to_string()),
            raw: score.map_or("fine".into(), |s| s.to_string()),
            channel: Channel::Sms,
            revision: 1,
            first_answered_at: morning(),
            answered_at: morning(),
        }
    }

    /// The world an attempt is checked in; each test changes what it is about.
    struct World {
        campaign: Option<Campaign>,
        contact: Option<Contact>,
        policy: ContactPolicy,
        suppressions: Vec<Suppression>,
        history: Vec<PastAttempt>,
        earlier: Vec<Attempt>,
        answers: Vec<Response>,
        now: DateTime<Utc>,
    }

    impl World {
        fn new() -> World {
            World {
                campaign: Some(campaign()),
                contact: Some(person()),
                policy: ContactPolicy::default(),
                suppressions: vec![],
                history: vec![],
                earlier: vec![],
                answers: vec![],
                now: morning(),
            }
        }

        fn check(&self, attempt: &Attempt) -> SendVerdict<(String, Option<String>)> {
            let verdict = may_send(&SendCheck {
                attempt,
                campaign: self.campaign.as_ref(),
                contact: self.contact.as_ref(),
                policy: &self.policy,
                default_timezone: None,
                suppressions: &self.suppressions,
                history: &self.history,
                earlier: &self.earlier,
                answers: &self.answers,
                now: self.now,
            });
            // What was found to send, by name: the step and the follow-up's text.
            match verdict {
                SendVerdict::Send(s) => {
                    SendVerdict::Send((s.step.id.clone(), s.follow_up.map(|f| f.text())))
                }
                SendVerdict::Skip(r) => SendVerdict::Skip(r),
                SendVerdict::Reschedule { not_before, reason } => {
                    SendVerdict::Reschedule { not_before, reason }
                }
            }
        }
    }

    fn skip(reason: SkipReason) -> SendVerdict<(String, Option<String>)> {
        SendVerdict::Skip(reason)
    }

    #[test]
    fn a_due_attempt_that_passes_every_check_is_sent_with_its_step() {
        let w = World::new();
        assert_eq!(
            w.check(&attempt(0)),
            SendVerdict::Send(("ask".into(), None))
        );
    }

    #[test]
    fn an_attempt_of_a_campaign_no_longer_loaded_is_skipped() {
        let w = World {
            campaign: None,
            ..World::new()
        };
        assert_eq!(w.check(&attempt(0)), skip(SkipReason::CampaignNotLoaded));
    }

    #[test]
    fn an_attempt_to_a_deleted_contact_is_skipped() {
        let w = World {
            contact: None,
            ..World::new()
        };
        assert_eq!(w.check(&attempt(0)), skip(SkipReason::ContactDeleted));
    }

    #[test]
    fn an_opt_out_earlier_in_the_run_skips_every_later_step() {
        let w = World {
            earlier: vec![Attempt {
                outcome: Some(Outcome::OptedOut),
                state: AttemptState::Done,
                ..attempt(0)
            }],
            ..World::new()
        };
        assert_eq!(w.check(&attempt(1)), skip(SkipReason::OptedOut));
    }

    #[test]
    fn a_no_reply_step_is_skipped_for_someone_who_replied_to_the_step_before() {
        let w = World {
            earlier: vec![Attempt {
                outcome: Some(Outcome::Replied),
                connected: true,
                ..attempt(0)
            }],
            ..World::new()
        };
        assert_eq!(w.check(&attempt(1)), skip(SkipReason::ConditionNotMet));
    }

    #[test]
    fn another_contacts_reply_does_not_meet_the_no_reply_condition() {
        let w = World {
            earlier: vec![Attempt {
                id: 99,
                contact_id: 2,
                outcome: Some(Outcome::Replied),
                connected: true,
                ..attempt(0)
            }],
            ..World::new()
        };
        assert_eq!(
            w.check(&attempt(1)),
            SendVerdict::Send(("remind".into(), None))
        );
    }

    #[test]
    fn an_attempt_of_a_step_no_longer_in_the_campaign_is_skipped() {
        let w = World::new();
        assert_eq!(w.check(&attempt(7)), skip(SkipReason::StepRemoved));
    }

    #[test]
    fn the_control_group_is_recorded_but_never_contacted() {
        let w = World::new();
        let held_out = Attempt {
            variant: Some(HOLDOUT.into()),
            ..attempt(0)
        };
        assert_eq!(w.check(&held_out), skip(SkipReason::Holdout));
    }

    #[test]
    fn a_follow_up_to_a_question_answered_meanwhile_is_skipped() {
        let w = World {
            answers: vec![answer("why", None)],
            ..World::new()
        };
        assert_eq!(
            w.check(&follow_up("ask:why")),
            skip(SkipReason::AlreadyAnswered)
        );
    }

    #[test]
    fn a_detractors_step_is_skipped_for_someone_whose_score_is_now_a_promoters() {
        let w = World {
            answers: vec![answer("nps", Some(10))],
            ..World::new()
        };
        assert_eq!(w.check(&attempt(2)), skip(SkipReason::ConditionNotMet));
    }

    #[test]
    fn a_detractors_step_goes_to_a_detractor() {
        let w = World {
            answers: vec![answer("nps", Some(2))],
            ..World::new()
        };
        assert_eq!(
            w.check(&attempt(2)),
            SendVerdict::Send(("sorry".into(), None))
        );
    }

    #[test]
    fn a_do_not_contact_entry_recorded_after_planning_skips_the_send() {
        let w = World {
            suppressions: vec![Suppression {
                target: SuppressionTarget::Phone(person().phone.unwrap()),
                kind: SuppressionKind::Dnc,
                channel: None,
                reason: "national DNC list".into(),
                source: "dnc.csv".into(),
                created_at: morning(),
                expires_at: None,
            }],
            ..World::new()
        };
        assert_eq!(w.check(&attempt(0)), skip(SkipReason::Dnc));
    }

    #[test]
    fn a_follow_up_whose_question_left_the_survey_is_skipped() {
        let w = World::new();
        assert_eq!(
            w.check(&follow_up("ask:gone")),
            skip(SkipReason::QuestionRemoved)
        );
    }

    #[test]
    fn a_follow_up_says_its_question_instead_of_the_steps_template() {
        let w = World::new();
        let SendVerdict::Send((step, Some(text))) = w.check(&follow_up("ask:why")) else {
            panic!("the follow-up is sent with its question");
        };
        assert_eq!(step, "ask");
        assert!(text.contains("Why?"), "{text}");
    }

    #[test]
    fn an_attempt_due_in_the_night_is_rescheduled_to_the_morning_not_sent() {
        let w = World {
            now: Utc.with_ymd_and_hms(2026, 12, 1, 22, 0, 0).unwrap(),
            ..World::new()
        };
        assert_eq!(
            w.check(&attempt(0)),
            SendVerdict::Reschedule {
                not_before: Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap(),
                reason: RescheduleReason::OutsideWindow,
            }
        );
    }

    #[test]
    fn a_reached_cap_reschedules_a_step_but_not_a_survey_follow_up() {
        let w = World {
            history: vec![PastAttempt {
                at: morning() - chrono::Duration::hours(1),
                channel: Channel::Sms,
                connected: false,
                obligation: None,
            }],
            ..World::new()
        };
        assert!(matches!(
            w.check(&attempt(0)),
            SendVerdict::Reschedule {
                reason: RescheduleReason::CapReached,
                ..
            }
        ));
        assert!(matches!(
            w.check(&follow_up("ask:why")),
            SendVerdict::Send(_)
        ));
    }

    #[test]
    fn a_call_waiting_at_the_desk_is_withdrawn_after_an_opt_out_and_waits_for_its_window() {
        let campaign = campaign();
        let contact = person();
        let policy = ContactPolicy::default();
        let call = Attempt {
            channel: Channel::Agent,
            ..attempt(0)
        };
        let opted_out = [Suppression {
            target: SuppressionTarget::Contact("p1".into()),
            kind: SuppressionKind::OptOut,
            channel: None,
            reason: "opted out by reply".into(),
            source: "nps/run 1".into(),
            created_at: morning(),
            expires_at: None,
        }];
        let desk = |suppressions: &[Suppression], now| {
            may_call(&DeskCheck {
                attempt: &call,
                campaign: &campaign,
                contact: &contact,
                policy: &policy,
                default_timezone: None,
                suppressions,
                now,
            })
        };
        assert_eq!(desk(&[], morning()), SendVerdict::Send(()));
        assert_eq!(
            desk(&opted_out, morning()),
            SendVerdict::Skip(SkipReason::OptedOut)
        );
        let night = Utc.with_ymd_and_hms(2026, 12, 1, 22, 0, 0).unwrap();
        assert!(matches!(
            desk(&[], night),
            SendVerdict::Reschedule {
                reason: RescheduleReason::OutsideWindow,
                ..
            }
        ));
    }

    #[test]
    fn a_call_or_a_step_is_withdrawn_once_the_goal_or_an_exit_condition_holds() {
        let mut campaign = campaign();
        campaign.goal = Some(Segment::parse("tag.paid").unwrap());
        campaign.exit = Some(Segment::parse("tag.disputed").unwrap());
        let policy = ContactPolicy::default();
        let call = Attempt {
            channel: Channel::Agent,
            ..attempt(0)
        };
        let tagged = |name: &str| Contact {
            tags: vec![crate::domain::contact::Tag {
                name: name.into(),
                source: "crm".into(),
                expires_at: None,
            }],
            ..person()
        };
        let desk = |contact: &Contact| {
            may_call(&DeskCheck {
                attempt: &call,
                campaign: &campaign,
                contact,
                policy: &policy,
                default_timezone: None,
                suppressions: &[],
                now: morning(),
            })
        };
        assert_eq!(desk(&person()), SendVerdict::Send(()));
        assert_eq!(
            desk(&tagged("paid")),
            SendVerdict::Skip(SkipReason::GoalReached)
        );
        assert_eq!(
            desk(&tagged("disputed")),
            SendVerdict::Skip(SkipReason::Exited)
        );
        assert_eq!(
            campaign.finished_for(&tagged("paid"), morning()),
            Some(SkipReason::GoalReached)
        );
    }
}
