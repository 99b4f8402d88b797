//! Outcomes: the closed vocabulary of what can happen to an attempt.
//!
//! Events from providers, agent dispositions and survey answers are all named here, so a
//! campaign's retry policy, step conditions and tag rules can be checked when the
//! definition is loaded (an outcome the previous step's channel can never produce is a
//! condition that can never be true).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::Channel;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A message reached the handset or mailbox.
    Delivered,
    /// The mailbox refused the message.
    Bounced,
    /// The e-mail was opened (tracking pixel).
    Opened,
    /// A link in the e-mail was followed.
    Clicked,
    /// The person answered a message.
    Replied,
    /// The step's delay passed without a reply to a message.
    NoReply,
    /// A call connected.
    Answered,
    /// The call rang out.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call reached voicemail or an answering machine.
    Voicemail,
    /// The voice bot passed the call to a human.
    HandedOff,
    /// The conversation finished normally.
    Completed,
    /// The person asked not to be contacted (STOP reply, unsubscribe, spoken request).
    OptedOut,
    /// The provider could not deliver or place the attempt.
    Failed,
    /// Disposition: the person promised to pay.
    PromiseToPay,
    /// Disposition: the person paid.
    Paid,
    /// Disposition: the person refused (to pay, to take the offer).
    Refused,
    /// Disposition: the number does not belong to the contact.
    WrongNumber,
    /// Disposition: the person asked to be called back later.
    CallbackRequested,
    /// NPS answer 9-10.
    NpsPromoter,
    /// NPS answer 7-8.
    NpsPassive,
    /// NPS answer 0-6.
    NpsDetractor,
    /// CSAT answer 4-5.
    CsatSatisfied,
    /// CSAT answer 1-3.
    CsatUnsatisfied,
    /// Every question of the survey was answered.
    SurveyCompleted,
    /// Every retry of a step ended without reaching the person.
    Unreachable,
}

impl Outcome {
    pub const ALL: [Outcome; 26] = [
        Outcome::Delivered,
        Outcome::Bounced,
        Outcome::Opened,
        Outcome::Clicked,
        Outcome::Replied,
        Outcome::NoReply,
        Outcome::Answered,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::Voicemail,
        Outcome::HandedOff,
        Outcome::Completed,
        Outcome::OptedOut,
        Outcome::Failed,
        Outcome::PromiseToPay,
        Outcome::Paid,
        Outcome::Refused,
        Outcome::WrongNumber,
        Outcome::CallbackRequested,
        Outcome::NpsPromoter,
        Outcome::NpsPassive,
        Outcome::NpsDetractor,
        Outcome::CsatSatisfied,
        Outcome::CsatUnsatisfied,
        Outcome::SurveyCompleted,
        Outcome::Unreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Bounced => "bounced",
            Outcome::Opened => "opened",
            Outcome::Clicked => "clicked",
            Outcome::Replied => "replied",
            Outcome::NoReply => "no_reply",
            Outcome::Answered => "answered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::HandedOff => "handed_off",
            Outcome::Completed => "completed",
            Outcome::OptedOut => "opted_out",
            Outcome::Failed => "failed",
            Outcome::PromiseToPay => "promise_to_pay",
            Outcome::Paid => "paid",
            Outcome::Refused => "refused",
            Outcome::WrongNumber => "wrong_number",
            Outcome::CallbackRequested => "callback_requested",
            Outcome::NpsPromoter => "nps_promoter",
            Outcome::NpsPassive => "nps_passive",
            Outcome::NpsDetractor => "nps_detractor",
            Outcome::CsatSatisfied => "csat_satisfied",
            Outcome::CsatUnsatisfied => "csat_unsatisfied",
            Outcome::SurveyCompleted => "survey_completed",
            Outcome::Unreachable => "unreachable",
        }
    }

    /// Can an attempt on `channel` end with this outcome?
    pub fn possible_on(self, channel: Channel) -> bool {
        use Channel::*;
        use Outcome::*;
        match self {
            Delivered | Replied | NoReply => matches!(channel, Sms | Email),
            Bounced | Opened | Clicked => channel == Email,
            Answered | NoAnswer | Busy | Voicemail | Completed => channel.is_call(),
            HandedOff => channel == VoiceBot,
            PromiseToPay | Paid | Refused | WrongNumber | CallbackRequested => {
                channel.is_call() || channel == Sms
            }
            OptedOut | Failed | Unreachable => true,
            NpsPromoter | NpsPassive | NpsDetractor | CsatSatisfied | CsatUnsatisfied
            | SurveyCompleted => true,
        }
    }

    /// Outcomes that come from a survey answer; they need a survey block with the matching
    /// question kind.
    pub fn survey_question_needed(self) -> Option<&'static str> {
        match self {
            Outcome::NpsPromoter | Outcome::NpsPassive | Outcome::NpsDetractor => Some("nps"),
            Outcome::CsatSatisfied | Outcome::CsatUnsatisfied => Some("csat"),
            Outcome::SurveyCompleted => Some("any"),
            _ => None,
        }
    }

    /// Outcomes that a retry policy can answer: the attempt did not reach the person.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Outcome::NoAnswer
                | Outcome::Busy
                | Outcome::Voicemail
                | Outcome::Failed
                | Outcome::CallbackRequested
                | Outcome::NoReply
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
