//! The contact rules checked over whole simulated campaigns, not one decision at a time:
//! three overlapping daily campaigns (a collection sequence with bot calls and retries, a
//! promotion, a reminder with an e-mail follow-up) and a bot-call sequence longer than a day
//! run for four simulated days over
//! contacts in four time zones, with STOP replies and DNC entries arriving on the way.
//! Afterwards the ledger is read back: no send outside its window on the contact's own
//! clock, none after an opt-out or a DNC entry, no promotion without consent, and the
//! SMS cap never exceeded across campaigns, and never two live sequences of one campaign
//! for one person.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::world::world_configured;
use herald::clock::Clock;
use herald::domain::contact::{Suppression, SuppressionKind, SuppressionTarget};
use herald::domain::ledger::Attempt;
use herald::domain::policy;
use herald::domain::values::{Channel, ChannelFamily};
use herald::store::Store;

const COLLECT: &str = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
cron = "0 9 * * *"
timezone = "Europe/London"
[windows.sms]
hours = "09:00-20:00"
[windows.voice_bot]
hours = ["10:00-12:30", "14:00-19:00"]
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
[[steps]]
id = "bot"
channel = "voice_bot"
flow = "collections_v1"
after = "4h"
when = "no_reply"
[retry.busy]
after = "15m"
max = 3
[retry.no_answer]
after = "2h"
max = 2
"#;

const PROMO: &str = r#"kind = "promotion"
[audience]
lists = ["people"]
[schedule]
cron = "0 12 * * *"
timezone = "Europe/London"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#;

const REMIND: &str = r#"kind = "reminder"
[audience]
lists = ["people"]
[schedule]
cron = "30 8 * * *"
timezone = "Europe/London"
[windows.sms]
days = "mon-fri"
hours = "08:30-18:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
[[steps]]
id = "mail"
channel = "email"
template = "winter_offer"
after = "1h"
"#;

/// A sequence longer than a day: each daily run finds people still inside the sequence the
/// runs before started.
const DUN: &str = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
cron = "0 10 * * *"
timezone = "Europe/London"
[windows.voice_bot]
hours = ["10:00-12:30", "14:00-19:00"]
[[steps]]
id = "bot"
channel = "voice_bot"
flow = "collections_v1"
[[steps]]
id = "bot_again"
channel = "voice_bot"
flow = "collections_v1"
after = "30h"
"#;

/// At most two SMS in any 24 hours per person, whatever the campaign.
const POLICY: &str = "[[policy.caps]]\nchannel = \"sms\"\nmax = 2\nper = \"1d\"\n";

const ZONES: [&str; 4] = [
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
];
const CONSENTS: [&str; 3] = ["granted", "unknown", "denied"];
const PEOPLE: usize = 48;

fn people() -> String {
    let mut csv =
        String::from("external_id,first_name,phone,email,timezone,consent_sms,balance,plan\n");
    for i in 0..PEOPLE {
        csv.push_str(&format!(
            "P{i},Pat,+4474003{i:05},p{i}@example.com,{},{},120,basic\n",
            ZONES[i % ZONES.len()],
            CONSENTS[(i / ZONES.len()) % CONSENTS.len()],
        ));
    }
    csv
}

#[tokio::test]
async fn overlapping_campaigns_keep_windows_opt_outs_dnc_consent_and_caps() {
    let w = world_configured(
        &[
            ("collect", COLLECT),
            ("promo", PROMO),
            ("remind", REMIND),
            ("dun", DUN),
        ],
        POLICY,
        &people(),
    )
    .await;
    let (settings, catalog) = w.catalog().await;

    // A day of campaigns, then a DNC list arrives for every fifth person, then three more.
    w.run_for(Duration::days(1)).await;
    let dnc_at = w.clock.now();
    let mut listed = Vec::new();
    for i in (0..PEOPLE).step_by(5) {
        let c = w.contact(&format!("P{i}")).await;
        listed.push(c.id);
        w.engine
            .store
            .upsert_suppressions(&[Suppression {
                target: SuppressionTarget::Phone(c.phone.clone().unwrap()),
                kind: SuppressionKind::Dnc,
                channel: None,
                reason: "national DNC list".into(),
                source: "test".into(),
                created_at: dnc_at,
                expires_at: None,
            }])
            .await
            .unwrap();
    }
    w.run_for(Duration::days(3)).await;

    let mut sends = 0;
    let mut opt_outs = 0;
    let mut overlaps = 0;
    let mut reentries = 0;
    for i in 0..PEOPLE {
        let contact = w.contact(&format!("P{i}")).await;
        let zone = policy::contact_zone(&contact, settings.default_timezone).unwrap();
        let attempts = w.attempts(&contact.external_id).await;
        let sent: Vec<(&Attempt, DateTime<Utc>)> = attempts
            .iter()
            .filter_map(|a| Some((a, a.sent_at?)))
            .collect();
        sends += sent.len();

        // Windows, on the contact's own clock.
        for (a, at) in &sent {
            let campaign = &catalog
                .campaigns
                .iter()
                .find(|c| c.campaign.id == a.campaign)
                .unwrap()
                .campaign;
            let window = settings
                .policy
                .effective_window(a.channel, campaign.windows.get(&a.channel));
            assert!(
                window.contains(*at, zone),
                "{} {} {} sent at {at} ({} local) outside its window",
                contact.external_id,
                a.campaign,
                a.step,
                at.with_timezone(&zone)
            );
            // Promotions only with explicit consent on the channel.
            if a.campaign == "promo" {
                assert_eq!(
                    contact.consent.sms.as_str(),
                    "granted",
                    "{} got a promotion without consent",
                    contact.external_id
                );
            }
        }

        // Nothing after a DNC entry.
        if listed.contains(&contact.id) {
            for (a, at) in &sent {
                assert!(
                    *at < dnc_at || a.channel.family() == ChannelFamily::Email,
                    "{} sent {} at {at}, after the DNC entry",
                    contact.external_id,
                    a.step
                );
            }
        }

        // Nothing on a channel family after the person opted out of it.
        let suppressions = w
            .engine
            .store
            .suppressions_for(std::slice::from_ref(&contact))
            .await
            .unwrap();
        for s in suppressions
            .iter()
            .filter(|s| s.kind == SuppressionKind::OptOut)
        {
            opt_outs += 1;
            for (a, at) in &sent {
                if s.channel.is_none_or(|f| f == a.channel.family()) {
                    assert!(
                        *at <= s.created_at,
                        "{} sent {} at {at}, after opting out at {}",
                        contact.external_id,
                        a.step,
                        s.created_at
                    );
                }
            }
        }

        // One live sequence per contact per campaign: a later run's sends of a campaign
        // never come before an earlier run's last send of the same campaign.
        for campaign in ["collect", "promo", "remind", "dun"] {
            let mut by_run: std::collections::BTreeMap<i64, Vec<DateTime<Utc>>> =
                std::collections::BTreeMap::new();
            for (a, at) in sent.iter().filter(|(a, _)| a.campaign == campaign) {
                by_run.entry(a.run_id).or_default().push(*at);
            }
            let spans: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = by_run
                .iter()
                .map(|(run, at)| (*run, *at.iter().min().unwrap(), *at.iter().max().unwrap()))
                .collect();
            if campaign == "dun" && spans.len() > 1 {
                reentries += 1;
            }
            for pair in spans.windows(2) {
                overlaps += usize::from(pair[1].1 <= pair[0].2);
                assert!(
                    pair[1].1 > pair[0].2,
                    "{} {campaign}: run {} sent at {} while run {} was still sending until {}",
                    contact.external_id,
                    pair[1].0,
                    pair[1].1,
                    pair[0].0,
                    pair[0].2
                );
            }
        }

        // At most two SMS in any 24 hours, across the three campaigns.
        let mut sms: Vec<DateTime<Utc>> = sent
            .iter()
            .filter(|(a, _)| a.channel == Channel::Sms)
            .map(|(_, at)| *at)
            .collect();
        sms.sort();
        for pair in sms.windows(3) {
            assert!(
                pair[2] - pair[0] >= Duration::days(1),
                "{} got three SMS within a day: {sms:?}",
                contact.external_id
            );
        }
    }
    // The run was not empty: the checks above had something to hold against.
    assert!(sends > 200, "only {sends} sends");
    assert!(opt_outs > 0, "someone opted out on the way");
    assert_eq!(overlaps, 0);
    assert!(
        reentries > 0,
        "someone entered the long sequence again after it ended"
    );
}
