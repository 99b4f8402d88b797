//! The inbox: each provider event taken once and applied once; survey answers revised,
//! and replies that find the message they answer.

use chrono::{DateTime, Duration, Utc};
use herald::domain::campaign::QuestionKind;
use herald::domain::ledger::Report;
use herald::domain::outcome::Outcome;
use herald::domain::survey::NewResponse;
use herald::domain::values::{Channel, PhoneNumber};
use herald::store::{Store, Write, WriteGroup};

use crate::{ALL, ledger_fixture, new_attempt, person, t0};

async fn the_inbox_takes_each_event_once_and_applies_it_once(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let key = new_attempt(run, a, "s1", Channel::Email, t0()).idempotency_key();
    let answer = |text: &str| Report::Answer {
        question: "nps".into(),
        text: text.into(),
    };
    let items = vec![
        (
            "later".to_string(),
            key.clone(),
            Report::Reply { text: "hi".into() },
            t0() + Duration::hours(1),
        ),
        (
            "first".to_string(),
            key.clone(),
            Report::Outcome {
                outcome: Outcome::Delivered,
                detail: Some("250 ok".into()),
            },
            t0() - Duration::minutes(1),
        ),
        ("link:nps:9".to_string(), key.clone(), answer("9"), t0()),
        (
            "first".to_string(),
            key.clone(),
            Report::Reply { text: "dup".into() },
            t0(),
        ),
    ];
    assert_eq!(
        store.inbox_push("web", &items, t0()).await.unwrap(),
        3,
        "the repeat is ignored"
    );
    assert_eq!(store.inbox_push("web", &items, t0()).await.unwrap(), 0);
    assert_eq!(
        store.inbox_push("other", &items[..1], t0()).await.unwrap(),
        1,
        "keys are unique per provider"
    );
    assert_eq!(store.inbox_push("web", &[], t0()).await.unwrap(), 0);
    assert_eq!(store.inbox_pending().await.unwrap(), 4);
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() - Duration::minutes(1))
    );

    let due = store.inbox_due(t0(), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|i| i.event_key.as_str()).collect::<Vec<_>>(),
        vec!["first", "link:nps:9"],
        "due ones, earliest first"
    );
    assert_eq!(due[0].provider, "web");
    assert_eq!(due[0].idempotency_key, key);
    assert_eq!(due[0].due_at, t0() - Duration::minutes(1));
    assert_eq!(
        due[0].report,
        Report::Outcome {
            outcome: Outcome::Delivered,
            detail: Some("250 ok".into())
        }
    );
    assert_eq!(store.inbox_due(t0(), 1).await.unwrap().len(), 1);
    store.inbox_applied(due[0].id, t0()).await.unwrap();
    store
        .inbox_applied(due[0].id, t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(store.inbox_pending().await.unwrap(), 3);
    assert_eq!(store.inbox_due(t0(), 10).await.unwrap().len(), 1);

    // A link scanner following every answer link of one message.
    let sweep: Vec<_> = ["0", "5", "9", "10"]
        .iter()
        .map(|n| {
            (
                format!("link:nps:{n}:x"),
                key.clone(),
                answer(n),
                t0() + Duration::seconds(2),
            )
        })
        .collect();
    store.inbox_push("web", &sweep, t0()).await.unwrap();
    let near =
        |from: DateTime<Utc>, to: DateTime<Utc>| store.link_answers_near(&key, "nps", from, to);
    assert_eq!(
        near(t0() - Duration::seconds(5), t0() + Duration::seconds(5))
            .await
            .unwrap(),
        4,
        "9 twice counts once"
    );
    assert_eq!(
        near(t0() + Duration::seconds(1), t0() + Duration::seconds(5))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        near(t0() + Duration::seconds(3), t0() + Duration::seconds(5))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .link_answers_near(&key, "csat", t0(), t0() + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .link_answers_near("other", "nps", t0(), t0() + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
}

async fn survey_answers_revise_and_replies_find_their_message(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, a, "s2", Channel::Sms, t0()),
        new_attempt(run, a, "mail", Channel::Email, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    for (i, x) in claimed.iter().enumerate() {
        let at = t0() + Duration::minutes(i as i64);
        assert!(store.mark_sent(x.id, at, "p").await.unwrap());
    }
    let phone = PhoneNumber::parse("+447400100001", None).unwrap();
    let (key, holders) = store.latest_sms_to(&phone, t0()).await.unwrap().unwrap();
    assert_eq!(
        key,
        batch[1].idempotency_key(),
        "the latest SMS, not the e-mail"
    );
    assert_eq!(holders, 1);
    assert!(
        store
            .latest_sms_to(&phone, t0() + Duration::hours(1))
            .await
            .unwrap()
            .is_none()
    );
    // B takes the same number: a reply from it can no longer be attributed.
    let mut shared = person("B", "+447400100001", 1.0);
    shared.tags.clear();
    store
        .upsert_contacts(&[shared], ALL, None, t0())
        .await
        .unwrap();
    assert_eq!(
        store.latest_sms_to(&phone, t0()).await.unwrap().unwrap().1,
        2
    );

    let attempt_id = claimed[0].id;
    let response = |score: i64, at: DateTime<Utc>| NewResponse {
        run_id: run,
        campaign: "c1".into(),
        contact_id: a,
        attempt_id,
        question: "nps".into(),
        kind: QuestionKind::Nps,
        score: Some(score),
        answer: score.to_string(),
        raw: format!("it's a {score}"),
        channel: Channel::Sms,
        variant: None,
        answered_at: at,
    };
    let write = |r: NewResponse| WriteGroup {
        guard: Some(Write::Response(r)),
        then: vec![],
    };
    let at = t0() + Duration::hours(1);
    assert_eq!(
        store
            .apply_writes(
                &[
                    write(response(7, at)),
                    write(response(9, at + Duration::minutes(5))),
                    write(response(3, at + Duration::minutes(1))),
                ],
                at
            )
            .await
            .unwrap(),
        vec![true, true, false],
        "an answer older than the recorded one never replaces it"
    );
    let comment = NewResponse {
        question: "why".into(),
        kind: QuestionKind::Text,
        score: None,
        answer: "fast".into(),
        raw: "fast".into(),
        ..response(0, at)
    };
    store.apply_writes(&[write(comment)], at).await.unwrap();
    let got = store.responses_of_contact_in_run(run, a).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].question, "nps");
    assert_eq!((got[0].kind, got[0].score), (QuestionKind::Nps, Some(9)));
    assert_eq!(
        (got[0].answer.as_str(), got[0].raw.as_str()),
        ("9", "it's a 9")
    );
    assert_eq!(got[0].channel, Channel::Sms);
    assert_eq!(got[0].revision, 2);
    assert_eq!(got[0].first_answered_at, at);
    assert_eq!(got[0].answered_at, at + Duration::minutes(5));
    assert_eq!(
        (got[1].kind, got[1].score, got[1].revision),
        (QuestionKind::Text, None, 1)
    );
    assert!(
        store
            .responses_of_contact_in_run(run, b)
            .await
            .unwrap()
            .is_empty()
    );
}

conformance!(
    the_inbox_takes_each_event_once_and_applies_it_once,
    survey_answers_revise_and_replies_find_their_message,
);
