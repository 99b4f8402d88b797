//! The engine over virtual time, against a real SQLite file and the simulated provider:
//! sequences advance by outcomes, opt-outs stop everything, callbacks apply once, closed
//! windows reschedule, pauses hold sends, retries follow the policy. No sleeps: the virtual
//! clock jumps to the next due moment.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::world::{Db, World, world, world_on};
use herald::clock::Clock;
use herald::domain::ledger::{AttemptState, Report};
use herald::domain::lifecycle::CampaignState;
use herald::domain::outcome::Outcome;
use herald::engine::{Engine, Scope};
use herald::store::{AnyStore, Store};

const SEQUENCE: &str = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[windows.sms]
hours = "09:00-20:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
[[steps]]
id = "bot"
channel = "voice_bot"
flow = "collections_v1"
after = "48h"
when = "no_reply"
[[steps]]
id = "human"
channel = "agent"
when = "handed_off"
[retry.busy]
after = "15m"
max = 3
[[tags]]
on = "promise_to_pay"
add = "promise_to_pay"
expires = "14d"
[[tags]]
on = "unreachable"
add = "unreachable"
"#;

const ONE: &str = "external_id,first_name,phone,balance,debt_id\nA1,Ana,+447400100001,120,D1\n";

async fn an_sms_then_voice_bot_then_agent_sequence_advances_by_outcomes(db: Db) {
    // Every SMS is delivered and never answered; every call is answered; the bot hands
    // every call to a human, who gets a promise to pay.
    let Some(w) = world_on(db, &[("test", SEQUENCE)], "sms_delivered = 1.0\nsms_reply = 0.0\ncall_answer = 1.0\nbot_handoff = 1.0\npromise_to_pay = 1.0\npaid = 0.0", ONE).await else {
        return;
    };
    w.run_for(Duration::days(4)).await;
    let a = w.attempts("A1").await;
    let steps: Vec<(&str, AttemptState, Option<Outcome>)> = a
        .iter()
        .map(|x| (x.step.as_str(), x.state, x.outcome))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("sms", AttemptState::Done, Some(Outcome::Delivered)),
            ("bot", AttemptState::Done, Some(Outcome::HandedOff)),
            ("human", AttemptState::Done, Some(Outcome::PromiseToPay)),
        ]
    );
    let sms_sent = a[0].sent_at.unwrap();
    assert_eq!(
        sms_sent,
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    );
    assert!(
        a[1].sent_at.unwrap() >= sms_sent + Duration::hours(48),
        "the bot waits 48h after the SMS"
    );
    assert!(a[2].sent_at.unwrap() > a[1].sent_at.unwrap());
    let c = w.engine.store.contact("A1").await.unwrap().unwrap();
    assert!(
        c.tags.iter().any(|t| t.name == "promise_to_pay"),
        "{:?}",
        c.tags
    );
    let runs = w.engine.store.runs(None, 10).await.unwrap();
    assert_eq!(runs[0].state, "finished");
}

#[tokio::test]
async fn a_reply_stops_the_no_reply_step() {
    let w = world(
        SEQUENCE,
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 0.0\ncall_answer = 1.0",
        ONE,
    )
    .await;
    w.run_for(Duration::days(4)).await;
    let a = w.attempts("A1").await;
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(
        (a[1].step.as_str(), a[1].state, a[1].reason.as_deref()),
        ("bot", AttemptState::Skipped, Some("condition_not_met"))
    );
    assert!(a[1].sent_at.is_none());
}

async fn a_stop_reply_stops_every_later_step_and_opts_out(db: Db) {
    let Some(w) = world_on(
        db,
        &[("test", SEQUENCE)],
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 1.0\ncall_answer = 1.0",
        ONE,
    )
    .await
    else {
        return;
    };
    w.run_for(Duration::days(4)).await;
    let a = w.attempts("A1").await;
    assert_eq!(
        a[0].outcome,
        Some(Outcome::OptedOut),
        "the opt-out replaces `delivered` on the SMS"
    );
    let later: Vec<_> = a.iter().skip(1).collect();
    assert!(
        later.iter().all(|x| x.sent_at.is_none()
            && matches!(x.state, AttemptState::Cancelled | AttemptState::Skipped)),
        "{later:#?}"
    );
    let c = w.engine.store.contact("A1").await.unwrap().unwrap();
    let entries = w
        .engine
        .store
        .suppressions_for(std::slice::from_ref(&c))
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|s| s.kind == herald::domain::contact::SuppressionKind::OptOut),
        "{entries:#?}"
    );
}

async fn a_duplicated_callback_is_applied_once(db: Db) {
    let Some(w) = world_on(
        db,
        &[("test", SEQUENCE)],
        "sms_delivered = 0.0\ncall_answer = 1.0",
        ONE,
    )
    .await
    else {
        return;
    };
    // Plan and send the SMS (the simulator reports it failed later).
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    w.engine.tick().await.unwrap();
    let a = w.attempts("A1").await;
    let key = a[0].idempotency_key.clone();
    let now = w.clock.now();
    let reply = Report::Reply {
        text: "I paid yesterday".into(),
    };
    let items = vec![("prov-evt-1".to_string(), key.clone(), reply, now)];
    assert_eq!(
        w.engine
            .store
            .inbox_push("http-sms", &items, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        w.engine
            .store
            .inbox_push("http-sms", &items, now)
            .await
            .unwrap(),
        0,
        "the repeat is not stored"
    );
    // A second copy under another event key: the attempt is closed once.
    let delivered = Report::Outcome {
        outcome: Outcome::Delivered,
        detail: None,
    };
    w.engine
        .store
        .inbox_push(
            "http-sms",
            &[
                ("d1".into(), key.clone(), delivered.clone(), now),
                ("d2".into(), key.clone(), delivered, now),
            ],
            now,
        )
        .await
        .unwrap();
    w.engine.apply_inbox(now, 100).await.unwrap();
    let events = w
        .engine
        .store
        .events_of_contact(a[0].contact_id, 100)
        .await
        .unwrap();
    let replies = events.iter().filter(|e| e["kind"] == "replied").count();
    assert_eq!(replies, 1, "{events:#?}");
    let after = w.attempts("A1").await;
    assert_eq!(after[0].outcome, Some(Outcome::Delivered));
    assert_eq!(
        after.iter().filter(|x| x.step == "bot").count(),
        1,
        "the next step is queued once: {after:#?}"
    );
}

#[tokio::test]
async fn a_contact_whose_window_closes_before_the_send_is_sent_next_morning_not_now() {
    let late = SEQUENCE.replace("once = 2026-11-30T09:00:00Z", "once = 2026-11-30T19:58:00Z");
    let w = world(&late, "sms_delivered = 1.0\nsms_reply = 0.0", ONE).await;
    // Plan at 19:58, then the dispatcher comes back only at 20:05 (a slow provider, a restart).
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 19, 58, 0).unwrap());
    w.engine.plan_due_runs(w.clock.now()).await.unwrap();
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 20, 5, 0).unwrap());
    let work = w.engine.tick().await.unwrap();
    assert_eq!((work.sent, work.rescheduled), (0, 1));
    let a = w.attempts("A1").await;
    assert_eq!(
        a[0].not_before,
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
    );
    assert_eq!(a[0].reason.as_deref(), Some("outside_window"));
    w.run_for(Duration::hours(20)).await;
    let a = w.attempts("A1").await;
    assert_eq!(
        a[0].sent_at,
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap())
    );
}

#[tokio::test]
async fn a_dnc_entry_recorded_after_planning_stops_the_send() {
    let w = world(SEQUENCE, "sms_delivered = 1.0", ONE).await;
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    w.engine.plan_due_runs(w.clock.now()).await.unwrap();
    let c = w.engine.store.contact("A1").await.unwrap().unwrap();
    let entry = herald::import::suppression_entry(
        c.phone.as_ref().map(|p| p.as_str()),
        None,
        None,
        herald::domain::contact::SuppressionKind::Dnc,
        None,
        "complaint",
        "test",
        None,
        None,
        w.clock.now(),
    )
    .unwrap();
    w.engine.store.upsert_suppressions(&[entry]).await.unwrap();
    w.run_for(Duration::days(3)).await;
    let a = w.attempts("A1").await;
    assert_eq!(
        (a.len(), a[0].state, a[0].reason.as_deref()),
        (1, AttemptState::Skipped, Some("dnc"))
    );
}

async fn pause_and_resume_send_nothing_twice(db: Db) {
    let mut csv = String::from("external_id,phone,balance,debt_id\n");
    for i in 0..30 {
        csv.push_str(&format!("P{i},+4474001{i:05},10,D{i}\n"));
    }
    let slow = SEQUENCE.replace(
        "[windows.sms]",
        "[rate_limits]\nsms = \"10/h\"\n\n[windows.sms]",
    );
    let Some(w) = world_on(
        db,
        &[("test", &slow)],
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 0.0",
        &csv,
    )
    .await
    else {
        return;
    };
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    w.engine.tick().await.unwrap();
    w.run_for(Duration::minutes(70)).await;
    w.engine
        .store
        .set_campaign_state("test", CampaignState::Paused, w.clock.now())
        .await
        .unwrap();
    let sent_before: usize = count_sent(&w).await;
    assert!((10..30).contains(&sent_before), "{sent_before}");
    // Hours pass while paused: nothing is sent.
    w.clock.set(w.clock.now() + Duration::hours(3));
    w.engine.run_until_idle().await.unwrap();
    assert_eq!(count_sent(&w).await, sent_before);
    w.engine
        .store
        .set_campaign_state("test", CampaignState::Active, w.clock.now())
        .await
        .unwrap();
    w.run_for(Duration::days(1)).await;
    assert_eq!(count_sent(&w).await, 30, "everyone once, nobody twice");
}

async fn count_sent(w: &World) -> usize {
    let mut n = 0;
    for i in 0..30 {
        n += w
            .attempts(&format!("P{i}"))
            .await
            .iter()
            .filter(|a| a.step == "sms" && a.sent_at.is_some())
            .count();
    }
    n
}

#[tokio::test]
async fn busy_calls_are_retried_by_the_policy_then_tagged_unreachable() {
    let calls = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T10:00:00Z
[[steps]]
id = "call"
channel = "voice_bot"
flow = "f"
[retry.busy]
after = "15m"
max = 3
[[tags]]
on = "unreachable"
add = "unreachable"
"#;
    let w = world(calls, "call_answer = 0.0\ncall_busy = 1.0", ONE).await;
    w.run_for(Duration::days(1)).await;
    let a = w.attempts("A1").await;
    assert_eq!(
        a.iter().map(|x| x.attempt_no).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(a.iter().all(|x| x.outcome == Some(Outcome::Busy)));
    let gaps: Vec<i64> = a
        .windows(2)
        .map(|p| (p[1].sent_at.unwrap() - p[0].sent_at.unwrap()).num_minutes())
        .collect();
    assert!(
        gaps.iter().all(|g| (15..=17).contains(g)),
        "15 minutes apart (plus ring time): {gaps:?}"
    );
    let c = w.engine.store.contact("A1").await.unwrap().unwrap();
    assert!(c.tags.iter().any(|t| t.name == "unreachable"));
}

#[tokio::test]
async fn an_occurrence_missed_while_no_daemon_ran_is_recorded_not_sent_late() {
    let daily = SEQUENCE.replace(
        "once = 2026-11-30T09:00:00Z",
        "cron = \"0 9 * * *\"\ntimezone = \"Europe/London\"",
    );
    let w = world(
        &daily,
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 0.0",
        ONE,
    )
    .await;
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    w.engine.run_until_idle().await.unwrap();
    // No daemon for two days; it comes back on Wednesday at 09:30, within the 1h grace.
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap());
    w.engine.run_until_idle().await.unwrap();
    let runs = w.engine.store.runs(Some("test"), 10).await.unwrap();
    let states: Vec<(String, String)> = runs
        .iter()
        .rev()
        .map(|r| {
            (
                r.occurrence.format("%m-%d").to_string(),
                r.state.to_string(),
            )
        })
        .collect();
    assert_eq!(states[0], ("11-30".to_string(), "finished".to_string()));
    assert_eq!(states[1], ("12-01".to_string(), "missed".to_string()));
    assert_eq!(states[2].0, "12-02");
    assert_ne!(states[2].1, "missed");
}

#[tokio::test]
async fn recontact_after_keeps_a_daily_campaign_from_asking_the_same_person_again() {
    let daily = SEQUENCE
        .replace(
            "once = 2026-11-30T09:00:00Z",
            "cron = \"0 9 * * *\"\ntimezone = \"Europe/London\"",
        )
        .replace(
            "lists = [\"people\"]",
            "lists = [\"people\"]\nrecontact_after = \"7d\"",
        );
    let w = world(
        &daily,
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 0.0",
        ONE,
    )
    .await;
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 8, 59, 0).unwrap());
    w.run_for(Duration::days(9)).await;
    let sms: Vec<_> = w
        .attempts("A1")
        .await
        .into_iter()
        .filter(|a| a.step == "sms" && a.sent_at.is_some())
        .collect();
    let days: Vec<String> = sms
        .iter()
        .map(|a| a.sent_at.unwrap().format("%m-%d").to_string())
        .collect();
    // Asked on the 30th, then not again until a week has passed (the run of the 7th).
    assert_eq!(days, vec!["11-30", "12-07"], "{days:?}");
}

#[tokio::test]
async fn a_daily_run_starts_no_second_sequence_for_someone_still_inside_one() {
    // The sequence lasts two days (the bot call waits 48 h for a reply that never comes),
    // and the campaign runs every day.
    let daily = SEQUENCE.replace(
        "once = 2026-11-30T09:00:00Z",
        "cron = \"0 9 * * *\"\ntimezone = \"Europe/London\"",
    );
    let w = world(
        &daily,
        "sms_delivered = 1.0\nsms_reply = 0.0\nsms_opt_out = 0.0\ncall_answer = 0.0",
        ONE,
    )
    .await;
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 8, 59, 0).unwrap());
    w.run_for(Duration::hours(25)).await;

    // Tuesday's run found A1 inside Monday's sequence: skipped, and counted so.
    let runs = w.engine.store.runs(Some("test"), 10).await.unwrap();
    let tuesday = runs
        .iter()
        .find(|r| r.occurrence.format("%m-%d").to_string() == "12-01")
        .unwrap();
    assert_eq!(tuesday.summary["plan"]["planned"], 0, "{}", tuesday.summary);
    assert_eq!(
        tuesday.summary["plan"]["skipped"]["in_sequence"], 1,
        "{}",
        tuesday.summary
    );
    let (settings, catalog) = w.catalog().await;
    let campaign = &catalog.campaign("test").unwrap().campaign;
    let story =
        herald::planning::explain(&w.engine.store, campaign, &settings, "A1", w.clock.now())
            .await
            .unwrap()
            .unwrap();
    assert!(!story.eligible);
    assert!(story.summary.contains("in_sequence"), "{}", story.summary);

    // Once the sequence has ended (the bot call went unanswered), a later run starts a
    // new one.
    w.run_for(Duration::days(3)).await;
    let sms_days: Vec<String> = w
        .attempts("A1")
        .await
        .iter()
        .filter(|a| a.step == "sms")
        .filter_map(|a| a.sent_at)
        .map(|t| t.format("%m-%d").to_string())
        .collect();
    assert_eq!(sms_days.first().map(String::as_str), Some("11-30"));
    assert!(sms_days.len() >= 2, "{sms_days:?}");
    assert!(
        sms_days[1].as_str() >= "12-02",
        "a second sequence only after the first ended: {sms_days:?}"
    );
}

#[tokio::test]
async fn a_contact_who_reached_the_goal_gets_no_more_steps_and_is_not_planned_again() {
    // Paid (the goal) after the SMS went out and before the bot call; a second person was
    // tagged `paid` before the run, a third `disputed` (an exit condition).
    let with_goal = SEQUENCE.replace(
        "[audience]",
        "goal = \"tag.paid\"\nexit = \"tag.disputed\"\n[audience]",
    ) + "[[tags]]\non = \"paid\"\nadd = \"paid\"\n[[tags]]\non = \"refused\"\nadd = \"disputed\"\n";
    let three = "external_id,first_name,phone,balance,debt_id\n\
                 A1,Ana,+447400100001,120,D1\n\
                 B2,Bo,+447400100002,80,D2\n\
                 C3,Cy,+447400100003,50,D3\n";
    let w = world(
        &with_goal,
        "sms_delivered = 1.0\nsms_reply = 0.0\nsms_opt_out = 0.0\ncall_answer = 1.0",
        three,
    )
    .await;
    let tag = |name: &str| herald::domain::contact::Tag {
        name: name.into(),
        source: "crm".into(),
        expires_at: None,
    };
    let b2 = w.contact("B2").await.id;
    let c3 = w.contact("C3").await.id;
    let now = w.clock.now();
    w.engine
        .store
        .upsert_tag(b2, &tag("paid"), now)
        .await
        .unwrap();
    w.engine
        .store
        .upsert_tag(c3, &tag("disputed"), now)
        .await
        .unwrap();
    w.run_for(Duration::hours(12)).await;

    let runs = w.engine.store.runs(Some("test"), 10).await.unwrap();
    let plan = &runs[0].summary["plan"];
    assert_eq!(plan["planned"], 1, "{plan}");
    assert_eq!(plan["skipped"]["goal_reached"], 1, "{plan}");
    assert_eq!(plan["skipped"]["exited"], 1, "{plan}");
    let sms = w.attempts("A1").await;
    assert!(sms.iter().any(|a| a.step == "sms" && a.sent_at.is_some()));

    // A1 pays; the bot call 48 h after the SMS is not made.
    let a1 = w.contact("A1").await.id;
    w.engine
        .store
        .upsert_tag(a1, &tag("paid"), w.clock.now())
        .await
        .unwrap();
    w.run_for(Duration::days(3)).await;
    let after: Vec<_> = w
        .attempts("A1")
        .await
        .into_iter()
        .filter(|a| a.step == "bot")
        .collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].sent_at, None);
    assert_eq!(after[0].reason.as_deref(), Some("goal_reached"));
    let (settings, catalog) = w.catalog().await;
    let campaign = &catalog.campaign("test").unwrap().campaign;
    let story =
        herald::planning::explain(&w.engine.store, campaign, &settings, "C3", w.clock.now())
            .await
            .unwrap()
            .unwrap();
    assert!(story.summary.contains("exited"), "{}", story.summary);
}

#[tokio::test]
async fn a_channel_rate_spaces_sends_the_campaign_would_release_at_once() {
    let mut csv = String::from("external_id,phone,balance,debt_id\n");
    for i in 0..6 {
        csv.push_str(&format!("R{i},+4474001{i:05},10,D{i}\n"));
    }
    // The campaign has no rate limit and releases everyone at 09:00; the SMS channel may
    // send 2 a minute (an engine-wide bucket, shared by every campaign).
    let w = world(
        SEQUENCE,
        "sms_delivered = 1.0\nsms_reply = 1.0\nsms_opt_out = 0.0\n\n[sms]\nrate = \"2/m\"",
        &csv,
    )
    .await;
    w.run_for(Duration::days(1)).await;
    let mut sent: Vec<DateTime<Utc>> = Vec::new();
    for i in 0..6 {
        sent.extend(
            w.attempts(&format!("R{i}"))
                .await
                .iter()
                .filter(|a| a.step == "sms")
                .filter_map(|a| a.sent_at),
        );
    }
    sent.sort();
    assert_eq!(
        sent.len(),
        6,
        "everyone is sent to, later rather than over the rate"
    );
    for pair in sent.windows(2) {
        // One burst token, then one every 30 seconds (the simulator works to the minute).
        assert!(
            pair[1] - pair[0] >= Duration::seconds(30) || pair == [sent[0], sent[1]],
            "{sent:?}"
        );
    }
    assert!(sent[5] - sent[0] >= Duration::minutes(2), "{sent:?}");
}

/// An SMS-only campaign that releases everyone at 09:00.
const BLAST: &str = r#"kind = "collection"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[windows.sms]
hours = "09:00-20:00"
[[steps]]
id = "sms"
channel = "sms"
template = "payment_reminder"
"#;

async fn two_daemons_on_one_database_send_within_the_channel_rate_together(db: Db) {
    let mut csv = String::from("external_id,phone,balance,debt_id\n");
    for i in 0..50 {
        csv.push_str(&format!("S{i},+4474002{i:05},10,D{i}\n"));
    }
    let Some(w) = world_on(
        db,
        &[("test", BLAST)],
        "sms_delivered = 1.0\nsms_reply = 0.0\n\n[sms]\nrate = \"10/s\"",
        &csv,
    )
    .await
    else {
        return;
    };
    // A second daemon: the same settings and campaigns, its own connections to the same
    // database, the same clock.
    let (settings, catalog) = w.catalog().await;
    let store = AnyStore::open(&settings.database_url, false).await.unwrap();
    let second = Engine::simulated(
        store,
        catalog,
        settings,
        Arc::new(w.clock.clone()),
        Scope::All,
    );
    let first = &w.engine;
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap());
    assert_eq!(first.plan_due_runs(w.clock.now()).await.unwrap(), 1);

    // Both dispatch small batches at the same time until nothing is due, then the clock
    // moves on a second.
    let mut sent = (0, 0);
    for _ in 0..10 {
        let now = w.clock.now();
        loop {
            let (a, b) = tokio::join!(first.dispatch_due(now, 4), second.dispatch_due(now, 4));
            let (a, b) = (a.unwrap(), b.unwrap());
            sent.0 += a.sent;
            sent.1 += b.sent;
            if !a.any() && !b.any() {
                break;
            }
        }
        w.clock.set(now + Duration::seconds(1));
    }

    let mut times: Vec<DateTime<Utc>> = Vec::new();
    for i in 0..50 {
        times.extend(
            w.attempts(&format!("S{i}"))
                .await
                .iter()
                .filter_map(|a| a.sent_at),
        );
    }
    times.sort();
    assert_eq!(times.len(), 50, "everyone is sent to: {sent:?}");
    assert!(sent.0 > 0 && sent.1 > 0, "both daemons sent: {sent:?}");
    for (i, start) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|t| **t < *start + Duration::seconds(1))
            .count();
        assert!(
            within <= 10,
            "{within} sends in the second from {start}, over the rate of 10/s: {times:?}"
        );
    }
    assert!(
        times[49] - times[0] <= Duration::seconds(5),
        "the daemons together still send at the rate: {times:?}"
    );
}

on_both!(
    two_daemons_on_one_database_send_within_the_channel_rate_together,
    two_daemons_on_one_database_send_within_the_channel_rate_together
);

on_both!(
    an_sms_then_voice_bot_then_agent_sequence_advances_by_outcomes,
    an_sms_then_voice_bot_then_agent_sequence_advances_by_outcomes
);

on_both!(
    a_stop_reply_stops_every_later_step_and_opts_out,
    a_stop_reply_stops_every_later_step_and_opts_out
);

on_both!(
    a_duplicated_callback_is_applied_once,
    a_duplicated_callback_is_applied_once
);

on_both!(
    pause_and_resume_send_nothing_twice,
    pause_and_resume_send_nothing_twice
);

/// A provider's report on an attempt whose send herald has not recorded: while a
/// dispatcher holds it (`sending`) the report waits for the dispatcher's write; once the
/// attempt is back in the queue (its dispatcher died after the provider accepted), the
/// report proves the send, which is recorded once, with its `sent` event.
async fn a_report_on_an_unrecorded_send_waits_for_its_dispatcher_or_records_the_send(db: Db) {
    let Some(w) = world_on(db, &[("test", SEQUENCE)], "sms_delivered = 1.0", ONE).await else {
        return;
    };
    let nine = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
    w.clock.set(nine);
    w.engine.plan_due_runs(nine).await.unwrap();
    // A dispatcher claims the SMS; the provider reports it delivered before the
    // dispatcher writes the send.
    let claimed = w
        .engine
        .store
        .claim_due(nine, 10, "another-daemon")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let key = claimed[0].idempotency_key.clone();
    let delivered = Report::Outcome {
        outcome: Outcome::Delivered,
        detail: None,
    };
    let push = |event: &str| {
        let items = vec![(event.to_string(), key.clone(), delivered.clone(), nine)];
        let store = &w.engine.store;
        async move { store.inbox_push("http-sms", &items, nine).await.unwrap() }
    };
    push("d1").await;
    assert_eq!(
        w.engine.apply_inbox(nine, 100).await.unwrap(),
        0,
        "it waits"
    );
    assert_eq!(w.attempts("A1").await[0].state, AttemptState::Sending);

    // The dispatcher died: its claim goes back to the queue, and the report is applied.
    let released = w
        .engine
        .store
        .daemon_gone("another-daemon", nine - Duration::days(1), nine)
        .await
        .unwrap();
    assert_eq!(released, 1);
    assert_eq!(w.engine.apply_inbox(nine, 100).await.unwrap(), 1);
    let a = &w.attempts("A1").await[0];
    assert_eq!(a.state, AttemptState::Done);
    assert_eq!(a.outcome, Some(Outcome::Delivered));
    assert_eq!(a.sent_at, Some(nine), "the send is recorded");
    // A second report, and the engine's own pass, record no second send.
    push("d2").await;
    w.engine.run_until_idle().await.unwrap();
    let events = w
        .engine
        .store
        .events_of_contact(a.contact_id, 100)
        .await
        .unwrap();
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("sent"), 1, "{events:#?}");
    assert_eq!(w.attempts("A1").await[0].sent_at, Some(nine));
}

on_both!(
    a_report_on_an_unrecorded_send_waits_for_its_dispatcher_or_records_the_send,
    a_report_on_an_unrecorded_send_waits_for_its_dispatcher_or_records_the_send
);
