//! What the ledger reads back: counts, history, tallies and stats, reports, and exports,
//! all over the one ledger [`seed_ledger`] writes.

use chrono::{DateTime, Duration, Utc};
use herald::domain::campaign::QuestionKind;
use herald::domain::contact::Tag;
use herald::domain::ledger::{AttemptState, NewAttempt, TallyRow};
use herald::domain::lifecycle::{EventKind, RunState};
use herald::domain::outcome::Outcome;
use herald::domain::survey::NewResponse;
use herald::domain::values::Channel;
use herald::export::{Cell, Filter, Table};
use herald::store::{
    BreakdownCounts, ContactRun, NewContact, ReportScope, SendsAt, Store, Write, WriteGroup,
};

use crate::{ALL, person, t0};

/// Ledger ids of [`seed_ledger`].
struct Seeded {
    contacts: [i64; 4],
    runs: [i64; 2],
    /// A's first SMS: sent, delivered (an event too), answered NPS 9.
    a1: i64,
}

fn attempt(
    run_id: i64,
    contact_id: i64,
    step: &str,
    index: usize,
    channel: Channel,
    due: DateTime<Utc>,
) -> NewAttempt {
    NewAttempt {
        run_id,
        contact_id,
        step: step.into(),
        step_index: index,
        channel,
        attempt_no: 1,
        not_before: due,
        obligation: Some("ob".into()),
        after_attempt: None,
        condition: None,
        variant: None,
        prompt: None,
    }
}

/// Campaign `c1` (run r1) and `c2` (run r2) with contacts A, B, C, D:
/// - A in r1: step s1 SMS sent at +10 min, delivered (outcome and event), NPS answer 9;
///   step s2 e-mail sent at +65 min, still `sent`.
/// - B in r1: s1 SMS sent at +20 min, connected, promise to pay.
/// - C in r1: s1 SMS queued for tomorrow. D in r1: s1 SMS skipped (`dnc`).
/// - A in r2: s1 SMS sent at +30 min, connected, answered.
async fn seed_ledger(store: &impl Store) -> Seeded {
    let people: Vec<NewContact> = ["A", "B", "C", "D"]
        .iter()
        .enumerate()
        .map(|(i, id)| person(id, &format!("+44740010000{i}"), 10.0))
        .collect();
    store
        .upsert_contacts(&people, ALL, None, t0())
        .await
        .unwrap();
    let mut contacts = [0; 4];
    for (i, id) in ["A", "B", "C", "D"].iter().enumerate() {
        contacts[i] = store.contact(id).await.unwrap().unwrap().id;
    }
    let [a, b, c, d] = contacts;
    let v = store
        .campaign_version("c1", "h", "src", t0())
        .await
        .unwrap();
    let r1 = store
        .create_run("c1", v, t0(), RunState::Planning, t0())
        .await
        .unwrap()
        .unwrap();
    let r2 = store
        .create_run("c2", v, t0(), RunState::Planning, t0())
        .await
        .unwrap()
        .unwrap();
    let tomorrow = t0() + Duration::days(1);
    let planned = vec![
        attempt(r1, a, "s1", 0, Channel::Sms, t0()),
        attempt(r1, b, "s1", 0, Channel::Sms, t0()),
        attempt(r1, c, "s1", 0, Channel::Sms, tomorrow),
        attempt(r1, d, "s1", 0, Channel::Sms, tomorrow),
        attempt(r1, a, "s2", 1, Channel::Email, t0()),
        attempt(r2, a, "s1", 0, Channel::Sms, t0()),
    ];
    assert_eq!(store.insert_attempts(&planned, t0()).await.unwrap(), 6);
    let mut ids = Vec::new();
    for p in &planned {
        ids.push(
            store
                .attempt_by_key(&p.idempotency_key())
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    let [a1, b1, _c1, d1, a2, x1] = ids[..] else {
        unreachable!()
    };
    assert_eq!(store.claim_due(t0(), 100, "d1").await.unwrap().len(), 4);
    let minutes = |m: i64| t0() + Duration::minutes(m);
    for (id, m) in [(a1, 10), (b1, 20), (x1, 30), (a2, 65)] {
        assert!(store.mark_sent(id, minutes(m), "ref").await.unwrap());
    }
    store
        .record_event(
            a1,
            EventKind::Outcome(Outcome::Delivered),
            None,
            &serde_json::json!({"via": "test"}),
            minutes(11),
            minutes(11),
        )
        .await
        .unwrap();
    let close = |id, state, outcome, connected, reason| async move {
        assert!(
            store
                .close_attempt(id, state, outcome, connected, reason, minutes(90))
                .await
                .unwrap()
        );
    };
    close(
        a1,
        AttemptState::Done,
        Some(Outcome::Delivered),
        false,
        None,
    )
    .await;
    close(
        b1,
        AttemptState::Done,
        Some(Outcome::PromiseToPay),
        true,
        None,
    )
    .await;
    close(x1, AttemptState::Done, Some(Outcome::Answered), true, None).await;
    close(d1, AttemptState::Skipped, None, false, Some("dnc")).await;
    let answer = Write::Response(NewResponse {
        run_id: r1,
        campaign: "c1".into(),
        contact_id: a,
        attempt_id: a1,
        question: "nps".into(),
        kind: QuestionKind::Nps,
        score: Some(9),
        answer: "9".into(),
        raw: "9!".into(),
        channel: Channel::Sms,
        variant: None,
        answered_at: minutes(12),
    });
    store
        .apply_writes(
            &[WriteGroup {
                guard: None,
                then: vec![answer],
            }],
            minutes(12),
        )
        .await
        .unwrap();
    for run in [r1, r2] {
        store
            .set_run_summary(run, &serde_json::json!({}))
            .await
            .unwrap();
    }
    Seeded {
        contacts,
        runs: [r1, r2],
        a1,
    }
}

async fn ledger_reads_count_history_tallies_and_stats(store: &impl Store) {
    let Seeded { contacts, runs, .. } = seed_ledger(store).await;
    let [a, b, c, d] = contacts;
    let [r1, r2] = runs;
    let minutes = |m: i64| t0() + Duration::minutes(m);

    let history = store.history_for(&[a, b, c], t0()).await.unwrap();
    let mut of_a: Vec<_> = history[&a]
        .iter()
        .map(|p| (p.at, p.channel, p.connected, p.obligation.clone()))
        .collect();
    of_a.sort();
    let ob = Some("ob".to_string());
    assert_eq!(
        of_a,
        vec![
            (minutes(10), Channel::Sms, false, ob.clone()),
            (minutes(30), Channel::Sms, true, ob.clone()),
            (minutes(65), Channel::Email, false, ob.clone()),
        ]
    );
    assert_eq!(history[&b].len(), 1);
    assert!(history[&b][0].connected);
    assert!(!history.contains_key(&c), "nothing sent to C");
    assert_eq!(
        store.history_for(&[a], minutes(30)).await.unwrap()[&a].len(),
        1,
        "only attempts sent after `since`"
    );
    assert!(store.history_for(&[], t0()).await.unwrap().is_empty());

    let recent = |campaign: &'static str, since| async move {
        store
            .recently_contacted(campaign, &[a, b, c, d], since)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(recent("c1", t0()).await, vec![a, b]);
    assert_eq!(recent("c1", minutes(20)).await, vec![a]);
    assert_eq!(recent("c2", t0()).await, vec![a]);
    assert!(
        store
            .recently_contacted("c1", &[], t0())
            .await
            .unwrap()
            .is_empty()
    );

    let text = |s: &str| s.to_string();
    assert_eq!(
        store.attempt_counts().await.unwrap(),
        vec![
            (text("email"), text("sent"), 1),
            (text("sms"), text("done"), 3),
            (text("sms"), text("queued"), 1),
            (text("sms"), text("skipped"), 1),
        ]
    );
    assert_eq!(
        store.open_attempts(r1).await.unwrap(),
        2,
        "A's e-mail and C's SMS"
    );
    assert_eq!(store.open_attempts(r2).await.unwrap(), 0);
    assert_eq!(
        store
            .finishable_runs()
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![r2]
    );

    let tally_row = |step: &str, channel: &str, state: &str, result: &str, connected| TallyRow {
        step: step.into(),
        channel: channel.into(),
        state: state.into(),
        result: result.into(),
        attempts: 1,
        connected,
    };
    let tally = vec![
        tally_row("s1", "sms", "done", "delivered", 0),
        tally_row("s1", "sms", "done", "promise_to_pay", 1),
        tally_row("s1", "sms", "queued", "", 0),
        tally_row("s1", "sms", "skipped", "dnc", 0),
        tally_row("s2", "email", "sent", "", 0),
    ];
    assert_eq!(store.run_tally(r1).await.unwrap(), tally);

    let stats = store
        .campaign_stats("c1", &[Outcome::PromiseToPay, Outcome::Paid])
        .await
        .unwrap();
    assert_eq!(
        (
            stats.runs,
            stats.contacts,
            stats.attempted,
            stats.reached,
            stats.converted,
            stats.sent,
            stats.agent_calls
        ),
        (1, 4, 2, 1, 1, 3, 0)
    );
    assert_eq!(
        stats.volume_by_hour,
        vec![
            (text("2026-11-01 12"), text("sms"), 2),
            (text("2026-11-01 13"), text("email"), 1),
        ]
    );
    assert_eq!(stats.outcomes, tally);
    assert_eq!(stats.events, vec![(text("delivered"), 1)]);
    let by_event = store
        .campaign_stats("c1", &[Outcome::Delivered])
        .await
        .unwrap();
    assert_eq!(
        by_event.converted, 1,
        "A converts by its outcome and event, once"
    );
    let empty = store.campaign_stats("none", &[]).await.unwrap();
    assert_eq!((empty.runs, empty.sent, empty.contacts), (0, 0, 0));
}

async fn reports_read_contacts_steps_and_quarter_hours(store: &impl Store) {
    let Seeded { contacts, runs, .. } = seed_ledger(store).await;
    let [a, b, c, d] = contacts;
    let [r1, _] = runs;
    let scope = ReportScope {
        campaign: "c1".into(),
        run: None,
        conversions: vec![Outcome::PromiseToPay],
        delivery_converts: false,
        answer_converts: true,
        nps_question: Some("nps".into()),
        csat_question: Some("csat".into()),
        ab_step: Some("s2".into()),
    };
    let last = store.max_contact_id().await.unwrap();
    let rows = store.report_contact_runs(&scope, 0, last).await.unwrap();
    let expected = vec![
        ContactRun {
            run_id: r1,
            contact_id: a,
            attempted: true,
            delivered: true,
            responded: true,
            on_ab_step: true,
            nps: Some(9),
            ..ContactRun::default()
        },
        ContactRun {
            run_id: r1,
            contact_id: b,
            attempted: true,
            delivered: true,
            reached: true,
            promised: true,
            converted_by_outcome: true,
            ..ContactRun::default()
        },
        ContactRun {
            run_id: r1,
            contact_id: c,
            open: true,
            ..ContactRun::default()
        },
        ContactRun {
            run_id: r1,
            contact_id: d,
            skip_reason: Some("dnc".into()),
            ..ContactRun::default()
        },
    ];
    assert_eq!(rows, expected);
    assert_eq!(
        store.report_contact_runs(&scope, a, c).await.unwrap(),
        expected[1..3].to_vec(),
        "a page is the contacts in (after, last]"
    );
    let one_run = ReportScope {
        run: Some(r1 + 100),
        ..scope.clone()
    };
    assert!(
        store
            .report_contact_runs(&one_run, 0, last)
            .await
            .unwrap()
            .is_empty()
    );

    let counts =
        |key: &str, contacts, attempted, delivered, reached, converted, sends| BreakdownCounts {
            key: key.into(),
            contacts,
            attempted,
            delivered,
            reached,
            converted,
            sends,
        };
    assert_eq!(
        store.report_breakdown(&scope, true).await.unwrap(),
        vec![
            counts("s1", 4, 2, 2, 1, 2, 2),
            counts("s2", 1, 1, 0, 0, 0, 1)
        ]
    );
    let delivery = ReportScope {
        delivery_converts: true,
        answer_converts: false,
        conversions: vec![],
        ..scope.clone()
    };
    assert_eq!(
        store.report_breakdown(&delivery, false).await.unwrap(),
        vec![
            counts("sms", 4, 2, 2, 1, 2, 2),
            counts("email", 1, 1, 0, 0, 0, 1)
        ]
    );

    let at = |m: i64| t0() + Duration::minutes(m);
    let sends = |m, result: &str| SendsAt {
        at: at(m),
        result: result.into(),
        sends: 1,
    };
    assert_eq!(
        store.report_sends_by_time(&scope).await.unwrap(),
        vec![
            sends(0, "converted"),
            sends(15, "converted"),
            sends(60, "pending")
        ]
    );
    let nothing_converts = ReportScope {
        conversions: vec![],
        answer_converts: false,
        ..scope.clone()
    };
    assert_eq!(
        store.report_sends_by_time(&nothing_converts).await.unwrap(),
        vec![
            sends(0, "delivered"),
            sends(15, "reached"),
            sends(60, "pending")
        ]
    );
}

async fn exports_stream_typed_cells_in_id_order(store: &impl Store) {
    let Seeded { contacts, runs, a1 } = seed_ledger(store).await;
    let [a, b, c, _] = contacts;
    let [r1, _] = runs;
    store
        .upsert_tag(
            b,
            &Tag {
                name: "promised".into(),
                source: "c1/run 1".into(),
                expires_at: None,
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .upsert_tag(
            c,
            &Tag {
                name: "other".into(),
                source: "c10/run 1".into(),
                expires_at: None,
            },
            t0(),
        )
        .await
        .unwrap();
    store
        .upsert_tag(
            a,
            &Tag {
                name: "lapsed".into(),
                source: "c1".into(),
                expires_at: Some(t0()),
            },
            t0(),
        )
        .await
        .unwrap();
    let all = |campaign: Option<&str>| Filter {
        campaign: campaign.map(str::to_string),
        since: None,
        until: None,
        now: t0(),
    };
    let export = |table, filter: Filter| async move {
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        let n = store
            .export_rows(table, &filter, &mut |cells: &mut [Cell]| {
                rows.push(cells.to_vec());
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(n as usize, rows.len());
        rows
    };

    let people = export(Table::Contacts, all(None)).await;
    assert_eq!(people.len(), 4);
    let columns = |table: Table| table.columns().iter().map(|c| c.name).collect::<Vec<_>>();
    let cell = |table: Table, row: &[Cell], name: &str| {
        row[columns(table).iter().position(|c| *c == name).unwrap()].clone()
    };
    let first = &people[0];
    assert_eq!(cell(Table::Contacts, first, "contact_id"), Cell::Int(a));
    assert_eq!(
        cell(Table::Contacts, first, "external_id"),
        Cell::Text("A".into())
    );
    assert_eq!(cell(Table::Contacts, first, "last_name"), Cell::Null);
    assert_eq!(
        cell(Table::Contacts, first, "attributes"),
        Cell::Text(r#"{"balance":10.0}"#.into())
    );
    assert_eq!(
        cell(Table::Contacts, first, "tags"),
        Cell::Text(r#"["imported"]"#.into()),
        "a lapsed tag is not in force"
    );
    assert_eq!(cell(Table::Contacts, first, "created_at"), Cell::Time(t0()));
    assert_eq!(
        export(Table::Contacts, all(Some("c2"))).await.len(),
        1,
        "only A is in c2"
    );

    let tags = export(Table::Tags, all(Some("c1"))).await;
    assert_eq!(
        tags.iter()
            .map(|r| cell(Table::Tags, r, "tag"))
            .collect::<Vec<_>>(),
        vec![Cell::Text("lapsed".into()), Cell::Text("promised".into())],
        "the campaign's own tags, not c10's"
    );
    assert_eq!(cell(Table::Tags, &tags[0], "expires_at"), Cell::Time(t0()));

    let attempts = export(Table::Attempts, all(Some("c1"))).await;
    assert_eq!(attempts.len(), 5);
    let row = &attempts[0];
    assert_eq!(cell(Table::Attempts, row, "attempt_id"), Cell::Int(a1));
    assert_eq!(cell(Table::Attempts, row, "run_id"), Cell::Int(r1));
    assert_eq!(cell(Table::Attempts, row, "attempt_no"), Cell::Int(1));
    assert_eq!(cell(Table::Attempts, row, "connected"), Cell::Bool(false));
    assert_eq!(
        cell(Table::Attempts, row, "outcome"),
        Cell::Text("delivered".into())
    );
    assert_eq!(
        cell(Table::Attempts, row, "sent_at"),
        Cell::Time(t0() + Duration::minutes(10))
    );
    assert_eq!(cell(Table::Attempts, &attempts[2], "sent_at"), Cell::Null);
    assert_eq!(
        cell(Table::Attempts, &attempts[1], "connected"),
        Cell::Bool(true)
    );
    let window = Filter {
        since: Some(t0() + Duration::seconds(1)),
        ..all(None)
    };
    assert!(
        export(Table::Attempts, window).await.is_empty(),
        "created before `since`"
    );
    let until = Filter {
        until: Some(t0()),
        ..all(None)
    };
    assert!(
        export(Table::Attempts, until).await.is_empty(),
        "`until` is exclusive"
    );

    let events = export(Table::Events, all(None)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        cell(Table::Events, &events[0], "payload"),
        Cell::Text(r#"{"via":"test"}"#.into())
    );
    let responses = export(Table::Responses, all(Some("c1"))).await;
    assert_eq!(responses.len(), 1);
    assert_eq!(cell(Table::Responses, &responses[0], "score"), Cell::Int(9));
    assert_eq!(
        cell(Table::Responses, &responses[0], "raw"),
        Cell::Text("9!".into())
    );
    assert!(export(Table::Responses, all(Some("c2"))).await.is_empty());

    // The sink's first error stops the stream.
    let mut calls = 0;
    let failed = store
        .export_rows(Table::Attempts, &all(None), &mut |_: &mut [Cell]| {
            calls += 1;
            Err(herald::export::ExportError::Io {
                doing: "writing",
                source: std::io::Error::other("disk full"),
            }
            .into())
        })
        .await;
    assert!(
        matches!(failed, Err(herald::store::StoreError::Sink(_))),
        "{failed:?}"
    );
    assert_eq!(calls, 1);
}

/// SQLite reads exports a page of rows at a time (2,000), keyed on the last row read; an
/// export over several pages, with three tags per contact (a key of two columns, and page
/// edges inside a contact's tags), gives every row once and in order.
async fn exports_longer_than_a_page_give_every_row_once_in_order(store: &impl Store) {
    let people = 2_345;
    for chunk in (0..people).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<NewContact> = chunk
            .iter()
            .map(|i| NewContact {
                tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
                ..person(&format!("P{i}"), &format!("+4474{i:08}"), 1.0)
            })
            .collect();
        store
            .upsert_contacts(&batch, ALL, None, t0())
            .await
            .unwrap();
    }
    let filter = Filter {
        campaign: None,
        since: None,
        until: None,
        now: t0(),
    };
    let mut keys: Vec<(i64, String)> = Vec::new();
    let n = store
        .export_rows(Table::Tags, &filter, &mut |row: &mut [Cell]| {
            match (&row[0], &row[2]) {
                (Cell::Int(id), Cell::Text(tag)) => keys.push((*id, tag.clone())),
                other => panic!("{other:?}"),
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((n, keys.len()), (3 * people as u64, 3 * people));
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "tags in key order, each once"
    );

    let mut ids: Vec<i64> = Vec::new();
    store
        .export_rows(Table::Contacts, &filter, &mut |row: &mut [Cell]| {
            if let Cell::Int(id) = row[0] {
                ids.push(id);
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(ids.len(), people);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "contacts in id order, each once"
    );
}

conformance!(
    ledger_reads_count_history_tallies_and_stats,
    reports_read_contacts_steps_and_quarter_hours,
    exports_stream_typed_cells_in_id_order,
    exports_longer_than_a_page_give_every_row_once_in_order,
);
