//! Surveys over virtual time against a real SQLite file: replies read tolerantly, one
//! clarifying re-ask, later answers replacing earlier ones, multi-question SMS
//! conversations, voice-bot answers, the deadline, reminders to non-responders, and the
//! loop from a survey's tags to the audience of the next campaign.

mod common;

use chrono::Duration;
use common::world::{Db, World, world, world_on};
use herald::clock::Clock;
use herald::domain::ledger::{AttemptState, Report};
use herald::domain::survey::Response;
use herald::store::Store;

const NPS: &str = r#"kind = "survey"
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
[survey]
deadline = "7d"
[[survey.questions]]
id = "nps"
kind = "nps"
text = "How likely are you to recommend us? (0-10)"
[[tags]]
on = "nps_detractor"
add = "nps_detractor"
expires = "90d"
[[tags]]
on = "nps_promoter"
add = "nps_promoter"
"#;

const SIX: &str = "external_id,first_name,phone,email\n\
S1,Ann,+447400200001,s1@example.com\n\
S2,Ben,+447400200002,s2@example.com\n\
S3,Cat,+447400200003,s3@example.com\n\
S4,Dan,+447400200004,s4@example.com\n\
S5,Eve,+447400200005,s5@example.com\n\
S6,Fay,+447400200006,s6@example.com\n";

/// Every message delivered, nobody answers on their own: the test gives the replies.
const QUIET: &str = "sms_delivered = 1.0\nsurvey_answer = 0.0\nemail_bounce = 0.0\nemail_open = 0.0\nemail_reply = 0.0";

impl World {
    /// A reply from the person, to the message with this key, applied at once.
    async fn reply(&self, key: &str, text: &str) {
        self.reply_at(key, text, self.clock.now()).await;
    }

    /// A reply that happened at `at` (a provider may deliver it late).
    async fn reply_at(&self, key: &str, text: &str, at: chrono::DateTime<chrono::Utc>) {
        let now = self.clock.now();
        let item = (
            format!("{key}:{text}:{}", now.timestamp()),
            key.to_string(),
            Report::Reply { text: text.into() },
            at,
        );
        let added = self
            .engine
            .store
            .inbox_push("http-sms", &[item], now)
            .await
            .unwrap();
        assert_eq!(added, 1);
        self.engine.run_until_idle().await.unwrap();
    }

    async fn responses(&self, external_id: &str) -> Vec<Response> {
        let c = self.contact(external_id).await;
        let run = self.engine.store.runs(None, 10).await.unwrap();
        let mut out = Vec::new();
        for r in run {
            out.extend(
                self.engine
                    .store
                    .responses_of_contact_in_run(r.id, c.id)
                    .await
                    .unwrap(),
            );
        }
        out
    }

    async fn key_of(&self, external_id: &str, step: &str) -> String {
        self.attempts(external_id)
            .await
            .into_iter()
            .find(|a| a.step == step && a.prompt.is_none())
            .unwrap()
            .idempotency_key
    }

    async fn tags(&self, external_id: &str) -> Vec<String> {
        let c = self.contact(external_id).await;
        c.tags.into_iter().map(|t| t.name).collect()
    }
}

fn score(r: &[Response], question: &str) -> Option<i64> {
    r.iter()
        .find(|x| x.question == question)
        .and_then(|x| x.score)
}

async fn replies_nine_three_nine_abc_and_a_late_second_answer_give_the_right_scores_and_one_clarification(
    db: Db,
) {
    let Some(w) = world_on(db, &[("test", NPS)], QUIET, SIX).await else {
        return;
    };
    w.run_for(Duration::hours(2)).await;
    for (who, text) in [
        ("S1", "9"),
        ("S2", "3"),
        ("S3", "nine"),
        ("S4", "abc"),
        ("S5", "10"),
    ] {
        let key = w.key_of(who, "ask").await;
        w.reply(&key, text).await;
    }
    // "abc" cannot be read: S4 is asked once more, and answers that message.
    let s4 = w.attempts("S4").await;
    let clarify: Vec<_> = s4
        .iter()
        .filter(|a| a.prompt.as_deref() == Some("clarify:nps"))
        .collect();
    assert_eq!(clarify.len(), 1, "{s4:#?}");
    assert!(clarify[0].sent_at.is_some(), "the re-ask was sent");
    w.reply(&clarify[0].idempotency_key, " 8/10").await;
    // A day later S5 changes their mind.
    w.run_for(Duration::days(1)).await;
    let key5 = w.key_of("S5", "ask").await;
    w.reply(&key5, "6").await;

    let scores: Vec<Option<i64>> = futures_scores(&w, &["S1", "S2", "S3", "S4", "S5", "S6"]).await;
    assert_eq!(
        scores,
        vec![Some(9), Some(3), Some(9), Some(8), Some(6), None]
    );
    let s5 = w.responses("S5").await;
    assert_eq!(s5[0].revision, 2, "the later answer replaced the first");
    assert_eq!(s5[0].raw, "6");
    // NPS over the five answers: promoters S1 S3, passive S4, detractors S2 S5 → 0.
    let (mut p, mut d, mut n) = (0, 0, 0);
    for s in scores.iter().flatten() {
        n += 1;
        p += i32::from(*s >= 9);
        d += i32::from(*s <= 6);
    }
    assert_eq!((p, d, n), (2, 2, 5));
    // The campaign report says the same: NPS 0 over 5 answers, 5 of 6 responded.
    let campaign = w.campaign("test").await;
    let report = herald::export::report::gather(
        &w.engine.store,
        &campaign,
        None,
        &herald::export::report::SegmentBy::List,
        w.clock.now(),
    )
    .await
    .unwrap();
    let survey = report.survey.as_ref().unwrap();
    assert_eq!(survey.responded, 5);
    let nps = survey.nps.as_ref().unwrap();
    assert_eq!(
        (nps.answers, nps.promoters, nps.passives, nps.detractors),
        (5, 2, 1, 2)
    );
    assert_eq!(nps.score.as_ref().unwrap().value, 0.0);
    assert!(nps.score.as_ref().unwrap().margin > 0.0);
    let rr = report.rates.response_rate.as_ref().unwrap();
    assert_eq!((rr.count, rr.of), (5, 6));
    // Exactly one clarification in the whole run, and no second one for anybody.
    let mut clarifications = 0;
    for who in ["S1", "S2", "S3", "S4", "S5", "S6"] {
        clarifications += w
            .attempts(who)
            .await
            .iter()
            .filter(|a| a.prompt.is_some())
            .count();
    }
    assert_eq!(clarifications, 1);
    // Tags follow the current answer: S5's promoter tag went when they became a detractor.
    assert!(w.tags("S2").await.contains(&"nps_detractor".to_string()));
    let t5 = w.tags("S5").await;
    assert!(t5.contains(&"nps_detractor".to_string()), "{t5:?}");
    assert!(!t5.contains(&"nps_promoter".to_string()), "{t5:?}");
    assert!(w.tags("S1").await.contains(&"nps_promoter".to_string()));
    // Only S6, who never answered, got the e-mail reminder.
    for who in ["S1", "S2", "S3", "S4", "S5"] {
        let remind = w
            .attempts(who)
            .await
            .into_iter()
            .find(|a| a.step == "remind")
            .unwrap();
        assert_eq!(remind.reason.as_deref(), Some("condition_not_met"), "{who}");
        assert!(remind.sent_at.is_none());
    }
    let remind6 = w
        .attempts("S6")
        .await
        .into_iter()
        .find(|a| a.step == "remind")
        .unwrap();
    assert!(remind6.sent_at.is_some());
}

async fn futures_scores(w: &World, who: &[&str]) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for x in who {
        out.push(score(&w.responses(x).await, "nps"));
    }
    out
}

#[tokio::test]
async fn an_unreadable_answer_to_the_re_ask_is_kept_and_asked_no_more() {
    let w = world(NPS, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    w.reply(&key, "15").await;
    let again = w
        .attempts("S1")
        .await
        .into_iter()
        .find(|a| a.prompt.is_some())
        .unwrap();
    w.reply(&again.idempotency_key, "dunno").await;
    let prompts = w
        .attempts("S1")
        .await
        .into_iter()
        .filter(|a| a.prompt.is_some())
        .count();
    assert_eq!(prompts, 1, "one re-ask, never two");
    assert!(w.responses("S1").await.is_empty());
    let events = w
        .engine
        .store
        .events_of_contact(w.engine.store.contact("S1").await.unwrap().unwrap().id, 100)
        .await
        .unwrap();
    let unclear = events
        .iter()
        .filter(|e| e["kind"] == "answer_unclear")
        .count();
    assert_eq!(unclear, 2, "{events:#?}");
}

#[tokio::test]
async fn an_answer_after_the_deadline_is_recorded_as_late_and_not_counted() {
    let w = world(NPS, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    w.run_for(Duration::days(2)).await;
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 7, 9, 1, 0).unwrap());
    w.reply(&key, "10").await;
    assert!(w.responses("S1").await.is_empty());
    let c = w.engine.store.contact("S1").await.unwrap().unwrap();
    let events = w.engine.store.events_of_contact(c.id, 100).await.unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "answer_late"),
        "{events:#?}"
    );
}

const TWO_QUESTIONS: &str = r#"kind = "survey"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[[steps]]
id = "ask"
channel = "sms"
template = "nps_survey"
[survey]
[[survey.questions]]
id = "nps"
kind = "nps"
text = "How likely are you to recommend us?"
[[survey.questions]]
id = "reason"
kind = "text"
text = "What is the main reason for your score?"
[[tags]]
on = "survey_completed"
add = "surveyed"
"#;

#[tokio::test]
async fn an_sms_survey_asks_its_questions_in_turn_and_completes() {
    let w = world(TWO_QUESTIONS, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    w.reply(&key, "nueve").await;
    let next = w
        .attempts("S1")
        .await
        .into_iter()
        .find(|a| a.prompt.as_deref() == Some("ask:reason"))
        .expect("the second question was sent");
    assert!(next.sent_at.is_some());
    assert!(!w.tags("S1").await.contains(&"surveyed".to_string()));
    w.reply(&next.idempotency_key, "Quick repair, friendly staff")
        .await;
    let r = w.responses("S1").await;
    assert_eq!(score(&r, "nps"), Some(9));
    let reason = r.iter().find(|x| x.question == "reason").unwrap();
    assert_eq!(reason.answer, "Quick repair, friendly staff");
    assert!(w.tags("S1").await.contains(&"surveyed".to_string()));
    // Nothing more is asked once every question has its answer.
    let prompts = w
        .attempts("S1")
        .await
        .into_iter()
        .filter(|a| a.prompt.is_some())
        .count();
    assert_eq!(prompts, 1);
}

const BOT: &str = r#"kind = "survey"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[[steps]]
id = "call"
channel = "voice_bot"
flow = "csat_v1"
[survey]
[[survey.questions]]
id = "csat"
kind = "csat"
text = "How satisfied were you, from 1 to 5?"
[[survey.questions]]
id = "reason"
kind = "text"
text = "Why?"
"#;

#[tokio::test]
async fn a_voice_bot_reports_answers_that_are_recorded_per_question() {
    let w = world(
        BOT,
        "call_answer = 1.0\nbot_handoff = 0.0\nsurvey_answer = 1.0",
        SIX,
    )
    .await;
    w.run_for(Duration::hours(3)).await;
    for who in ["S1", "S2", "S3", "S4", "S5", "S6"] {
        let r = w.responses(who).await;
        assert_eq!(r.len(), 2, "{who}: {r:#?}");
        let csat = score(&r, "csat").unwrap();
        assert!((1..=5).contains(&csat));
        assert!(
            r.iter()
                .all(|x| x.channel == herald::domain::values::Channel::VoiceBot)
        );
    }
}

const CALLBACK: &str = r#"kind = "reminder"
description = "Service recovery: an agent calls back every detractor."
[audience]
segment = "tag.nps_detractor"
[schedule]
once = 2026-12-02T09:00:00Z
[[steps]]
id = "call"
channel = "agent"
"#;

async fn detractors_tagged_by_the_survey_are_exactly_the_audience_of_the_callback_campaign(db: Db) {
    let Some(w) = world_on(
        db,
        &[("survey", NPS), ("detractor_callback", CALLBACK)],
        QUIET,
        SIX,
    )
    .await
    else {
        return;
    };
    w.run_for(Duration::hours(2)).await;
    for (who, text) in [("S1", "10"), ("S2", "2"), ("S3", "zero"), ("S4", "7")] {
        let key = w.key_of(who, "ask").await;
        w.reply(&key, text).await;
    }
    // Past the callback campaign's start.
    w.run_for(Duration::days(2)).await;
    let runs = w.engine.store.runs(None, 10).await.unwrap();
    let callback = runs
        .iter()
        .find(|r| r.campaign == "detractor_callback")
        .expect("the callback campaign ran");
    let mut called = Vec::new();
    for who in ["S1", "S2", "S3", "S4", "S5", "S6"] {
        let c = w.engine.store.contact(who).await.unwrap().unwrap();
        if !w
            .engine
            .store
            .attempts_of_contact_in_run(callback.id, c.id)
            .await
            .unwrap()
            .is_empty()
        {
            called.push(who);
        }
    }
    assert_eq!(called, vec!["S2", "S3"]);
    assert_eq!(
        callback.summary["plan"]["planned"], 2,
        "{:#}",
        callback.summary
    );
}

const AB: &str = r#"kind = "promotion"
[audience]
lists = ["people"]
[schedule]
once = 2026-11-30T09:00:00Z
[[steps]]
id = "offer"
channel = "sms"
template = "winter_followup"
holdout = 0.2
[[steps.variants]]
id = "a"
[[steps.variants]]
id = "b"
template = "nps_survey"
weight = 3
"#;

#[tokio::test]
async fn variants_and_the_holdout_are_assigned_by_contact_and_the_holdout_is_never_sent() {
    let mut rows = String::from("external_id,phone,consent_sms\n");
    for i in 0..200 {
        rows.push_str(&format!("V{i},+4474003{i:05},granted\n"));
    }
    let w = world(AB, "sms_delivered = 1.0\nsms_reply = 0.0", &rows).await;
    w.run_for(Duration::hours(2)).await;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut assignment = Vec::new();
    for i in 0..200 {
        let a = w.attempts(&format!("V{i}")).await;
        assert_eq!(a.len(), 1);
        let v = a[0].variant.clone().unwrap();
        if v == "holdout" {
            assert_eq!(a[0].state, AttemptState::Skipped);
            assert_eq!(a[0].reason.as_deref(), Some("holdout"));
            assert!(a[0].sent_at.is_none(), "a holdout contact is never sent to");
        } else {
            assert!(a[0].sent_at.is_some(), "{:#?}", a[0]);
        }
        *counts.entry(v.clone()).or_default() += 1;
        assignment.push(v);
    }
    // 20 % held out, the rest split 1:3 (with the noise of 200 draws).
    let (h, a, b) = (counts["holdout"], counts["a"], counts["b"]);
    assert!((25..=55).contains(&h), "{counts:?}");
    assert!(b > 2 * a, "{counts:?}");
    // The same contacts in another installation get the same variants.
    let again = world(AB, "sms_delivered = 1.0\nsms_reply = 0.0", &rows).await;
    again.run_for(Duration::hours(2)).await;
    for (i, v) in assignment.iter().enumerate() {
        let a = again.attempts(&format!("V{i}")).await;
        assert_eq!(a[0].variant.as_ref(), Some(v));
    }
    // Variant b sent its own template.
    let b_contact = assignment.iter().position(|v| v == "b").unwrap();
    let c = w
        .engine
        .store
        .contact(&format!("V{b_contact}"))
        .await
        .unwrap()
        .unwrap();
    let events = w.engine.store.events_of_contact(c.id, 10).await.unwrap();
    let sent = events.iter().find(|e| e["kind"] == "sent").unwrap();
    assert_eq!(sent["payload"]["template"], "nps_survey", "{sent:#}");
    assert_eq!(sent["payload"]["variant"], "b");
}

/// The two-question survey, asked by e-mail.
fn email_survey() -> String {
    TWO_QUESTIONS.replace(
        "id = \"ask\"\nchannel = \"sms\"\ntemplate = \"nps_survey\"",
        "id = \"mail\"\nchannel = \"email\"\ntemplate = \"nps_reminder\"",
    )
}

impl World {
    /// A campaign of this world's jobs folder, checked.
    async fn campaign(&self, id: &str) -> herald::domain::campaign::Campaign {
        let (_, catalog) = self.catalog().await;
        catalog.campaign(id).unwrap().campaign.clone()
    }

    /// The daemon's HTTP API over this world's database, on a free loopback port.
    async fn serve_api(&self) -> String {
        let (settings, catalog) = self.catalog().await;
        let state = std::sync::Arc::new(herald::api::ApiState {
            store: self.engine.store.clone(),
            secret: settings.secret.clone(),
            clock: std::sync::Arc::new(self.clock.clone()),
            send_latency: self.engine.send_latency.clone(),
            queue: None,
            api_token: None,
            agent_token: None,
            catalog: Some(std::sync::Arc::new(catalog)),
            settings: std::sync::Arc::new(settings.clone()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(herald::api::serve(
            listener,
            state,
            std::future::pending::<()>(),
        ));
        base
    }
}

async fn e_mail_answer_links_record_one_click_answers_then_the_comment_page_takes_the_reason(
    db: Db,
) {
    let Some(w) = world_on(db, &[("test", &email_survey())], QUIET, SIX).await else {
        return;
    };
    w.run_for(Duration::hours(2)).await;
    let base = w.serve_api().await;
    let key = w.key_of("S1", "mail").await;
    let link = w.engine.survey_url(&key);
    let path = &link[link.find("/s/").unwrap()..];
    let http = reqwest::Client::new();

    // A mail scanner's prefetch of the "0" link records nothing.
    let prefetch = http
        .get(format!("{base}{path}/nps/0"))
        .header("Sec-Purpose", "prefetch")
        .send()
        .await
        .unwrap();
    assert_eq!(prefetch.status(), 200);
    // The person clicks 9: the page asks the next question with a text box.
    let page = http
        .get(format!("{base}{path}/nps/9"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("main reason for your score"), "{html}");
    assert!(html.contains("<textarea"), "{html}");
    let done = http
        .post(format!("{base}{path}/reason"))
        .form(&[("answer", "Fast <b>and</b> friendly")])
        .send()
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("Thank you"));
    // A value off the scale is shown the question again, not recorded.
    let off = http
        .get(format!("{base}{path}/nps/11"))
        .send()
        .await
        .unwrap();
    assert!(off.text().await.unwrap().contains("not one of the choices"));
    // A forged token is refused.
    let forged = http
        .get(format!(
            "{base}/s/{key}.00000000000000000000000000000000/nps/9"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);

    // One-click answers are applied after the link-scan window.
    w.run_for(Duration::minutes(3)).await;
    let r = w.responses("S1").await;
    assert_eq!(score(&r, "nps"), Some(9), "{r:#?}");
    assert_eq!(r.iter().filter(|x| x.question == "nps").count(), 1);
    assert_eq!(r[0].revision, 1, "the prefetch recorded nothing");
    let reason = r.iter().find(|x| x.question == "reason").unwrap();
    assert_eq!(reason.answer, "Fast <b>and</b> friendly");
    assert_eq!(reason.channel, herald::domain::values::Channel::Email);
}

#[tokio::test]
async fn follow_up_questions_are_not_held_back_by_frequency_caps() {
    // One SMS a day at most: the survey's first message uses it, yet the second question
    // goes out at once, because it answers the person's own reply.
    let capped = TWO_QUESTIONS.replace(
        "[survey]",
        "[[caps]]\nchannel = \"sms\"\nmax = 1\nper = \"1d\"\n[survey]",
    );
    let w = world(&capped, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    let replied_at = w.clock.now();
    w.reply(&key, "7").await;
    let next = w
        .attempts("S1")
        .await
        .into_iter()
        .find(|a| a.prompt.as_deref() == Some("ask:reason"))
        .unwrap();
    assert_eq!(next.sent_at, Some(replied_at), "{next:#?}");
}

#[tokio::test]
async fn a_link_scanner_following_every_answer_link_records_nothing_and_the_person_still_can() {
    let w = world(&email_survey(), QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let base = w.serve_api().await;
    let key = w.key_of("S2", "mail").await;
    let link = w.engine.survey_url(&key);
    let path = &link[link.find("/s/").unwrap()..];
    let http = reqwest::Client::new();
    // A scanner opens every link, with no prefetch header.
    for n in 0..=10 {
        let r = http
            .get(format!("{base}{path}/nps/{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    w.run_for(Duration::minutes(5)).await;
    assert!(
        w.responses("S2").await.is_empty(),
        "the sweep recorded nothing"
    );
    let c = w.contact("S2").await;
    let events = w.engine.store.events_of_contact(c.id, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "answer_ignored")
            .count(),
        11
    );
    // The person opens the e-mail later and clicks 8.
    http.get(format!("{base}{path}/nps/8"))
        .send()
        .await
        .unwrap();
    w.run_for(Duration::minutes(5)).await;
    assert_eq!(score(&w.responses("S2").await, "nps"), Some(8));
}

async fn a_second_message_finishes_the_conversation_instead_of_replacing_the_score(db: Db) {
    let Some(w) = world_on(db, &[("test", TWO_QUESTIONS)], QUIET, SIX).await else {
        return;
    };
    w.run_for(Duration::hours(2)).await;
    // "9" then, before reading the next question, the reason.
    let key = w.key_of("S1", "ask").await;
    w.reply(&key, "9").await;
    w.reply(&key, "Fixed in 2 days").await;
    let r = w.responses("S1").await;
    assert_eq!(score(&r, "nps"), Some(9), "{r:#?}");
    let reason = r.iter().find(|x| x.question == "reason").unwrap();
    assert_eq!(reason.answer, "Fixed in 2 days");
    assert!(
        !w.attempts("S1")
            .await
            .iter()
            .any(|a| a.prompt.as_deref() == Some("clarify:nps")),
        "an answered question is never asked again"
    );
    // "abc" and "8" arrive together: the re-ask "abc" earned is not sent after all.
    let key2 = w.key_of("S2", "ask").await;
    let now = w.clock.now();
    let items = vec![
        (
            "a".to_string(),
            key2.clone(),
            Report::Reply { text: "abc".into() },
            now,
        ),
        (
            "b".to_string(),
            key2.clone(),
            Report::Reply { text: "8".into() },
            now,
        ),
    ];
    w.engine
        .store
        .inbox_push("http-sms", &items, now)
        .await
        .unwrap();
    w.engine.run_until_idle().await.unwrap();
    assert_eq!(score(&w.responses("S2").await, "nps"), Some(8));
    let clarify = w
        .attempts("S2")
        .await
        .into_iter()
        .find(|a| a.prompt.as_deref() == Some("clarify:nps"))
        .unwrap();
    assert_eq!(clarify.reason.as_deref(), Some("already_answered"));
    assert!(clarify.sent_at.is_none());
}

#[tokio::test]
async fn a_reply_delivered_late_does_not_replace_a_newer_answer() {
    let w = world(NPS, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    let earlier = w.clock.now() - Duration::minutes(5);
    w.reply(&key, "9").await;
    w.reply_at(&key, "3", earlier).await;
    let r = w.responses("S1").await;
    assert_eq!((score(&r, "nps"), r[0].revision), (Some(9), 1));
}

#[tokio::test]
async fn a_step_for_detractors_is_not_sent_to_someone_who_changed_their_score() {
    // The step after the question goes to detractors, two hours later.
    let sorry = NPS.replace(
        "id = \"remind\"\nchannel = \"email\"\ntemplate = \"nps_reminder\"\nafter = \"24h\"\nwhen = \"no_reply\"",
        "id = \"sorry\"\nchannel = \"sms\"\ntemplate = \"nps_survey\"\nafter = \"2h\"\nwhen = \"nps_detractor\"",
    );
    assert!(sorry.contains("sorry"));
    let w = world(&sorry, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    let key = w.key_of("S1", "ask").await;
    w.reply(&key, "3").await;
    w.run_for(Duration::minutes(10)).await;
    w.reply(&key, "10").await;
    w.run_for(Duration::hours(3)).await;
    let step = w
        .attempts("S1")
        .await
        .into_iter()
        .find(|a| a.step == "sorry")
        .unwrap();
    assert_eq!(step.reason.as_deref(), Some("condition_not_met"));
    assert!(step.sent_at.is_none());
    // Someone who stays a detractor gets it.
    let w2 = world(&sorry, QUIET, SIX).await;
    w2.run_for(Duration::hours(2)).await;
    let key = w2.key_of("S1", "ask").await;
    w2.reply(&key, "2").await;
    w2.run_for(Duration::hours(3)).await;
    let step = w2
        .attempts("S1")
        .await
        .into_iter()
        .find(|a| a.step == "sorry")
        .unwrap();
    assert!(step.sent_at.is_some(), "{step:#?}");
}

#[tokio::test]
async fn a_comment_that_starts_with_an_opt_out_word_is_a_comment_and_stop_alone_still_opts_out() {
    let w = world(TWO_QUESTIONS, QUIET, SIX).await;
    w.run_for(Duration::hours(2)).await;
    for who in ["S1", "S2"] {
        let key = w.key_of(who, "ask").await;
        w.reply(&key, "4").await;
    }
    let follow_up = |a: Vec<herald::domain::ledger::Attempt>| {
        a.into_iter()
            .find(|a| a.prompt.as_deref() == Some("ask:reason"))
            .unwrap()
            .idempotency_key
    };
    let k1 = follow_up(w.attempts("S1").await);
    w.reply(&k1, "Baja calidad del servicio").await;
    let r = w.responses("S1").await;
    assert_eq!(
        r.iter().find(|x| x.question == "reason").unwrap().answer,
        "Baja calidad del servicio"
    );
    let c1 = w.contact("S1").await;
    assert!(
        w.engine
            .store
            .suppressions_for(std::slice::from_ref(&c1))
            .await
            .unwrap()
            .is_empty()
    );
    let k2 = follow_up(w.attempts("S2").await);
    w.reply(&k2, "STOP").await;
    let c2 = w.contact("S2").await;
    assert_eq!(
        w.engine
            .store
            .suppressions_for(std::slice::from_ref(&c2))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        !w.responses("S2")
            .await
            .iter()
            .any(|x| x.question == "reason")
    );
}

on_both!(replies_nine_three_nine_abc_and_a_late_second_answer_give_the_right_scores_and_one_clarification, replies_nine_three_nine_abc_and_a_late_second_answer_give_the_right_scores_and_one_clarification);

on_both!(
    detractors_tagged_by_the_survey_are_exactly_the_audience_of_the_callback_campaign,
    detractors_tagged_by_the_survey_are_exactly_the_audience_of_the_callback_campaign
);

on_both!(
    a_second_message_finishes_the_conversation_instead_of_replacing_the_score,
    a_second_message_finishes_the_conversation_instead_of_replacing_the_score
);

on_both!(
    e_mail_answer_links_record_one_click_answers_then_the_comment_page_takes_the_reason,
    e_mail_answer_links_record_one_click_answers_then_the_comment_page_takes_the_reason
);
