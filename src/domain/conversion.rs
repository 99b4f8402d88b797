//! What counts as a conversion for each kind of campaign, as reports measure it.
//!
//! One definition per kind, so the funnel, the per-variant comparison and the breakdowns
//! all count the same thing: a survey converts when the person answers, a collection on a
//! promise to pay or a payment, a promotion on a click or a reply, a reminder when it got
//! through (delivered or a connected call).

use serde::Serialize;

use super::campaign::CampaignKind;
use super::outcome::Outcome;

/// A kind's conversion: any of `outcomes` (as an attempt's outcome or an event on it), a
/// delivery or connection when `delivered`, a survey answer when `responded`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conversion {
    pub outcomes: Vec<Outcome>,
    pub delivered: bool,
    pub responded: bool,
    /// How reports name it.
    pub label: &'static str,
}

impl Conversion {
    pub fn of(kind: CampaignKind) -> Conversion {
        match kind {
            CampaignKind::Survey => Conversion {
                outcomes: vec![],
                delivered: false,
                responded: true,
                label: "responded",
            },
            CampaignKind::Collection => Conversion {
                outcomes: vec![Outcome::PromiseToPay, Outcome::Paid],
                delivered: false,
                responded: false,
                label: "promise to pay or paid",
            },
            CampaignKind::Promotion => Conversion {
                outcomes: vec![Outcome::Clicked, Outcome::Replied],
                delivered: false,
                responded: false,
                label: "clicked or replied",
            },
            CampaignKind::Reminder => Conversion {
                outcomes: vec![],
                delivered: true,
                responded: false,
                label: "delivered or connected",
            },
        }
    }
}

/// Outcomes that show a message reached the person's handset or mailbox (a connected call
/// counts too, through the attempt's `connected` flag).
pub const DELIVERY_OUTCOMES: [Outcome; 4] = [
    Outcome::Delivered,
    Outcome::Opened,
    Outcome::Clicked,
    Outcome::Replied,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_converts_on_what_it_is_for() {
        assert!(Conversion::of(CampaignKind::Survey).responded);
        assert!(Conversion::of(CampaignKind::Reminder).delivered);
        assert_eq!(
            Conversion::of(CampaignKind::Collection).outcomes,
            vec![Outcome::PromiseToPay, Outcome::Paid]
        );
        assert!(
            Conversion::of(CampaignKind::Promotion)
                .outcomes
                .contains(&Outcome::Clicked)
        );
    }
}
