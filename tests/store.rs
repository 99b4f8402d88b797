//! The store conformance suite: one set of behaviours every `Store` must have, run on a
//! fresh SQLite file per test and on a fresh PostgreSQL database per test (on the server
//! `HERALD_TEST_POSTGRES_URL` names; CI always sets it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald::domain::campaign::QuestionKind;
use herald::domain::contact::{
    AttributeValue, Consent, Consents, Contact, Suppression, SuppressionKind, SuppressionTarget,
    Tag,
};
use herald::domain::ledger::{AttemptState, NewAttempt, Report, TallyRow};
use herald::domain::outcome::Outcome;
use herald::domain::survey::NewResponse;
use herald::domain::values::{Channel, ChannelFamily, EmailAddress, PhoneNumber};
use herald::export::{Cell, Filter, Table};
use herald::store::{
    BreakdownCounts, ContactRun, DeskTake, NewContact, Present, ReportScope, SendsAt, SqliteStore,
    Store, Write, WriteGroup,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn person(id: &str, phone: &str, balance: f64) -> NewContact {
    NewContact {
        contact: Contact {
            id: 0,
            external_id: id.into(),
            first_name: Some(format!("Name {id}")),
            last_name: None,
            phone: Some(PhoneNumber::parse(phone, None).unwrap()),
            email: Some(
                EmailAddress::parse(&format!("{}@example.com", id.to_lowercase())).unwrap(),
            ),
            locale: Some("en".into()),
            timezone: None,
            attributes: BTreeMap::from([("balance".to_string(), AttributeValue::Number(balance))]),
            consent: Consents {
                sms: Consent::Granted,
                ..Consents::default()
            },
            tags: vec![],
        },
        tags: vec!["imported".into()],
    }
}

const ALL: Present = Present {
    first_name: true,
    last_name: true,
    phone: true,
    email: true,
    locale: true,
    timezone: true,
    consent_sms: true,
    consent_email: true,
    consent_call: true,
};

async fn upserts_count_new_changed_and_unchanged_rows(store: &impl Store) {
    let batch = vec![
        person("A", "+447400100001", 10.0),
        person("B", "+447400100002", 20.0),
    ];
    let first = store
        .upsert_contacts(&batch, ALL, Some("l1"), t0())
        .await
        .unwrap();
    assert_eq!((first.inserted, first.updated, first.unchanged), (2, 0, 0));
    let again = store
        .upsert_contacts(&batch, ALL, Some("l1"), t0())
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 2));
    let mut changed = batch.clone();
    changed[1]
        .contact
        .attributes
        .insert("balance".into(), AttributeValue::Number(25.0));
    let third = store
        .upsert_contacts(&changed, ALL, None, t0())
        .await
        .unwrap();
    assert_eq!((third.inserted, third.updated, third.unchanged), (0, 1, 1));
    let b = store.contact("B").await.unwrap().unwrap();
    assert_eq!(b.attributes["balance"], AttributeValue::Number(25.0));
    assert_eq!(b.tags.len(), 1, "the import tag is not duplicated");
    assert_eq!(
        store.list_counts().await.unwrap()[0].count,
        2,
        "list membership is not duplicated"
    );
    assert_eq!(store.lists_of(b.id).await.unwrap(), vec!["l1"]);
}

/// The importer parses on one thread while the store writes on another: across many
/// batches, every bad row is still reported once, by its own line and in file order, every
/// good row is written, and progress only moves forward to the end of the file.
async fn an_import_of_many_batches_reports_each_bad_row_by_line_and_writes_the_rest(
    store: &impl Store,
) {
    let rows = 3 * herald::import::BATCH + 237;
    let mut csv = String::from("external_id,first_name,phone,balance\n");
    let mut bad_lines = Vec::new();
    for i in 0..rows {
        // Line 1 is the header, so row i is on line i + 2.
        if i % 97 == 5 {
            csv.push_str(&format!("P{i},Bad,12{i},10\n"));
            bad_lines.push(i as u64 + 2);
        } else {
            csv.push_str(&format!("P{i},Ana,+4474{i:08},{}\n", i % 50));
        }
    }
    let size = csv.len() as u64;
    let csv_lines = csv.clone();
    let options = herald::import::ContactImport {
        list: Some("many".into()),
        default_region: Some("GB".into()),
        attributes: BTreeMap::new(),
    };
    let (mut reported, mut progress) = (Vec::new(), Vec::new());
    let report = herald::import::import_contacts(
        store,
        std::io::Cursor::new(csv),
        &options,
        t0(),
        |e| reported.push(e.line),
        |bytes| progress.push(bytes),
    )
    .await
    .unwrap();

    assert_eq!(
        reported, bad_lines,
        "each bad row once, by line, in file order"
    );
    assert_eq!(report.rows, rows as u64);
    assert_eq!(report.rejected, bad_lines.len() as u64);
    assert_eq!(report.written.inserted, (rows - bad_lines.len()) as u64);
    assert_eq!(
        store.count_contacts().await.unwrap(),
        (rows - bad_lines.len()) as i64
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&size));

    // The same file with the lone CR line ends of old Mac exports: the same lines reported.
    let mut reported = Vec::new();
    let again = herald::import::import_contacts(
        store,
        std::io::Cursor::new(csv_lines.replace('\n', "\r")),
        &options,
        t0(),
        |e| reported.push(e.line),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(reported, bad_lines, "CR line ends count as lines");
    assert_eq!(again.written.unchanged, (rows - bad_lines.len()) as u64);
}

/// A file that fails part-way through (a disk error, a network share gone) ends the import
/// with that error: it is no bad row, and the import must not report success as if the
/// file had ended there. The rows read before it are written (an import can run again).
/// Contacts and DNC lists alike.
async fn an_import_whose_file_fails_midway_stops_with_the_error(store: &impl Store) {
    struct FailsAfter(std::io::Cursor<String>);
    impl std::io::Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("the disk went away")),
                n => Ok(n),
            }
        }
    }
    let mut csv = String::from("external_id,first_name,phone\n");
    for i in 0..herald::import::BATCH + 10 {
        csv.push_str(&format!("F{i},Ana,+4474{i:08}\n"));
    }
    let options = herald::import::ContactImport {
        list: None,
        default_region: Some("GB".into()),
        attributes: BTreeMap::new(),
    };
    let mut reported = 0;
    let result = herald::import::import_contacts(
        store,
        FailsAfter(std::io::Cursor::new(csv)),
        &options,
        t0(),
        |_| reported += 1,
        |_| {},
    )
    .await;
    let err = result.expect_err("a read error ends the import");
    assert!(err.to_string().contains("the disk went away"), "{err}");
    assert_eq!(reported, 0, "a read error is not a bad row");
    assert_eq!(
        store.count_contacts().await.unwrap(),
        (herald::import::BATCH + 10) as i64,
        "every row read before the error is written"
    );

    // A DNC list the same way: the error, and the entries read before it kept.
    let mut dnc = String::from("phone,reason\n");
    for i in 0..herald::import::BATCH + 10 {
        dnc.push_str(&format!("+4475{i:08},asked\n"));
    }
    let mut reported = 0;
    let err = herald::import::import_suppressions(
        store,
        FailsAfter(std::io::Cursor::new(dnc)),
        "test",
        Some("GB"),
        t0(),
        |_| reported += 1,
    )
    .await
    .expect_err("a read error ends the DNC import");
    assert!(err.to_string().contains("the disk went away"), "{err}");
    assert_eq!(reported, 0, "a read error is not a bad row");
    assert_eq!(
        store.suppressions(t0(), true, 10_000).await.unwrap().len(),
        herald::import::BATCH + 10,
        "every entry read before the error is kept"
    );
}

async fn absent_columns_keep_stored_values_and_attributes_merge(store: &impl Store) {
    store
        .upsert_contacts(&[person("A", "+447400100001", 10.0)], ALL, None, t0())
        .await
        .unwrap();
    let mut partial = person("A", "+447400100001", 0.0);
    partial.contact.first_name = None;
    partial.contact.phone = None;
    partial.contact.email = None;
    partial.contact.locale = None;
    partial.contact.attributes =
        BTreeMap::from([("plan".to_string(), AttributeValue::Text("gold".into()))]);
    partial.contact.consent = Consents::default();
    partial.tags.clear();
    let only_attributes = Present::default();
    let counts = store
        .upsert_contacts(&[partial], only_attributes, None, t0())
        .await
        .unwrap();
    assert_eq!(counts.updated, 1);
    let a = store.contact("A").await.unwrap().unwrap();
    assert_eq!(a.first_name.as_deref(), Some("Name A"));
    assert_eq!(a.phone.as_ref().map(|p| p.as_str()), Some("+447400100001"));
    assert_eq!(a.consent.sms, Consent::Granted);
    assert_eq!(
        a.attributes.len(),
        2,
        "balance kept, plan added: {:?}",
        a.attributes
    );
}

async fn audience_pages_visit_each_member_once_in_id_order(store: &impl Store) {
    let all: Vec<NewContact> = (0..25)
        .map(|i| person(&format!("P{i:02}"), &format!("+4474001{i:05}"), i as f64))
        .collect();
    store
        .upsert_contacts(&all[..10], ALL, Some("first"), t0())
        .await
        .unwrap();
    store
        .upsert_contacts(&all[5..20], ALL, Some("second"), t0())
        .await
        .unwrap();
    store
        .upsert_contacts(&all[20..], ALL, None, t0())
        .await
        .unwrap();
    let read = |lists: Vec<String>| async move {
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = store.contacts_page(&lists, after, 7).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            seen.extend(page.into_iter().map(|c| c.external_id));
        }
        seen
    };
    let both = read(vec!["first".into(), "second".into()]).await;
    assert_eq!(
        both.len(),
        20,
        "members of either list, once each: {both:?}"
    );
    let mut sorted = both.clone();
    sorted.sort();
    assert_eq!(both, sorted);
    assert_eq!(read(vec![]).await.len(), 25, "no lists means every contact");
    assert_eq!(read(vec!["nobody".into()]).await.len(), 0);
}

fn entry(
    target: SuppressionTarget,
    kind: SuppressionKind,
    expires: Option<DateTime<Utc>>,
) -> Suppression {
    Suppression {
        target,
        kind,
        channel: None,
        reason: "test".into(),
        source: "test".into(),
        created_at: t0(),
        expires_at: expires,
    }
}

async fn suppressions_deduplicate_match_and_expire(store: &impl Store) {
    store
        .upsert_contacts(
            &[
                person("A", "+447400100001", 1.0),
                person("B", "+447400100002", 1.0),
            ],
            ALL,
            None,
            t0(),
        )
        .await
        .unwrap();
    let phone = SuppressionTarget::Phone(PhoneNumber::parse("+447400100001", None).unwrap());
    let email = SuppressionTarget::Email(EmailAddress::parse("b@example.com").unwrap());
    store
        .upsert_suppressions(&[entry(phone.clone(), SuppressionKind::Dnc, None)])
        .await
        .unwrap();
    // The same entry again refreshes it instead of adding a second row.
    store
        .upsert_suppressions(&[entry(
            phone.clone(),
            SuppressionKind::Dnc,
            Some(t0() + Duration::days(30)),
        )])
        .await
        .unwrap();
    store
        .upsert_suppressions(&[entry(
            email.clone(),
            SuppressionKind::Bounce,
            Some(t0() - Duration::days(1)),
        )])
        .await
        .unwrap();
    let mut opt_out = entry(
        SuppressionTarget::Contact("B".into()),
        SuppressionKind::OptOut,
        None,
    );
    opt_out.channel = Some(ChannelFamily::Sms);
    store.upsert_suppressions(&[opt_out]).await.unwrap();

    let in_force = store.suppressions(t0(), false, 100).await.unwrap();
    assert_eq!(in_force.len(), 2, "{in_force:#?}");
    assert_eq!(store.suppressions(t0(), true, 100).await.unwrap().len(), 3);
    let phone_entry = in_force.iter().find(|s| s.target == phone).unwrap();
    assert_eq!(phone_entry.expires_at, Some(t0() + Duration::days(30)));

    let a = store.contact("A").await.unwrap().unwrap();
    let b = store.contact("B").await.unwrap().unwrap();
    let found = store
        .suppressions_for(&[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(found.len(), 3, "by phone, by address and by contact id");
    let b_only = store
        .suppressions_for(std::slice::from_ref(&b))
        .await
        .unwrap();
    assert!(
        b_only
            .iter()
            .any(|s| s.kind == SuppressionKind::OptOut && s.channel == Some(ChannelFamily::Sms))
    );

    assert_eq!(
        store
            .delete_suppression("phone", "+447400100001", Some(SuppressionKind::OptOut))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_suppression("phone", "+447400100001", None)
            .await
            .unwrap(),
        1
    );
    assert!(store.suppressions_for(&[a]).await.unwrap().is_empty());
}

async fn tags_count_only_while_in_force(store: &impl Store) {
    store
        .upsert_contacts(
            &[
                person("A", "+447400100001", 1.0),
                person("B", "+447400100002", 1.0),
            ],
            ALL,
            None,
            t0(),
        )
        .await
        .unwrap();
    let a = store.contact("A").await.unwrap().unwrap();
    let b = store.contact("B").await.unwrap().unwrap();
    let tag = |name: &str, expires: Option<DateTime<Utc>>| Tag {
        name: name.into(),
        source: "test".into(),
        expires_at: expires,
    };
    store
        .upsert_tag(a.id, &tag("vip", None), t0())
        .await
        .unwrap();
    store
        .upsert_tag(b.id, &tag("vip", Some(t0() - Duration::hours(1))), t0())
        .await
        .unwrap();
    let counts = store.tag_counts(t0()).await.unwrap();
    let vip = counts.iter().find(|c| c.name == "vip").unwrap();
    assert_eq!(vip.count, 1, "the expired tag does not count");
    assert!(store.remove_tag(a.id, "vip", t0()).await.unwrap());
    assert!(!store.remove_tag(a.id, "vip", t0()).await.unwrap());
    assert!(store.tag_names().await.unwrap().contains("imported"));
    assert_eq!(
        store
            .attribute_keys()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["balance"]
    );
    assert_eq!(store.count_contacts().await.unwrap(), 2);
}

async fn campaigns_versions_and_runs_keep_their_state(store: &impl Store) {
    assert_eq!(store.campaign_state("c1").await.unwrap(), "active");
    store
        .set_campaign_state("c1", "cancelled", t0())
        .await
        .unwrap();
    store
        .set_campaign_state("c1", "paused", t0())
        .await
        .unwrap();
    store
        .set_campaign_state("c2", "cancelled", t0())
        .await
        .unwrap();
    assert_eq!(store.campaign_state("c1").await.unwrap(), "paused");
    assert_eq!(
        store.campaign_states().await.unwrap(),
        BTreeMap::from([
            ("c1".to_string(), "paused".to_string()),
            ("c2".to_string(), "cancelled".to_string()),
        ])
    );

    let v1 = store
        .campaign_version("c1", "h1", "src 1", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .campaign_version("c1", "h1", "src 1", t0())
            .await
            .unwrap(),
        v1,
        "a version is recorded once"
    );
    let v2 = store
        .campaign_version("c1", "h2", "src 2", t0())
        .await
        .unwrap();
    assert_ne!(v1, v2);

    let (occ1, occ2) = (t0(), t0() + Duration::days(1));
    let r1 = store
        .create_run("c1", v1, occ1, "planning", t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .create_run("c1", v2, occ1, "planning", t0())
            .await
            .unwrap(),
        None,
        "an occurrence is planned once"
    );
    let r2 = store
        .create_run("c1", v2, occ2, "running", t0())
        .await
        .unwrap()
        .unwrap();
    let r3 = store
        .create_run("c2", v1, occ1, "planning", t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.last_occurrence("c1").await.unwrap(), Some(occ2));
    assert_eq!(store.last_occurrence("nothing").await.unwrap(), None);

    let planned = store.run(r1).await.unwrap().unwrap();
    assert_eq!(
        (
            planned.campaign.as_str(),
            planned.occurrence,
            planned.state.as_str()
        ),
        ("c1", occ1, "planning")
    );
    assert_eq!(planned.summary, serde_json::json!({}));
    assert_eq!((planned.created_at, planned.finished_at), (t0(), None));

    store
        .set_run_summary(r1, &serde_json::json!({"planned": 3, "steps": ["a"]}))
        .await
        .unwrap();
    let opened = store.run(r1).await.unwrap().unwrap();
    assert_eq!(opened.state, "running", "a summary opens a planned run");
    assert_eq!(
        opened.summary,
        serde_json::json!({"planned": 3, "steps": ["a"]})
    );
    let ids =
        |runs: Vec<herald::domain::ledger::Run>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.running_runs().await.unwrap()), vec![r1, r2]);
    assert_eq!(
        ids(store.finishable_runs().await.unwrap()),
        vec![r1, r2],
        "running runs without attempts are finishable"
    );
    assert_eq!(store.open_attempts(r1).await.unwrap(), 0);

    let done_at = t0() + Duration::days(2);
    store
        .finish_run(r2, "finished", &serde_json::json!({"sent": 1}), done_at)
        .await
        .unwrap();
    let finished = store.run(r2).await.unwrap().unwrap();
    assert_eq!(finished.state, "finished");
    assert_eq!(finished.finished_at, Some(done_at));
    assert_eq!(finished.summary, serde_json::json!({"sent": 1}));
    store
        .set_run_summary(r2, &serde_json::json!({"sent": 2}))
        .await
        .unwrap();
    assert_eq!(
        store.run(r2).await.unwrap().unwrap().state,
        "finished",
        "a summary opens only planned runs"
    );
    assert_eq!(ids(store.running_runs().await.unwrap()), vec![r1]);

    assert_eq!(ids(store.runs(Some("c1"), 10).await.unwrap()), vec![r2, r1]);
    assert_eq!(ids(store.runs(None, 2).await.unwrap()), vec![r3, r2]);
    assert_eq!(
        store
            .run_by_occurrence("c1", occ2)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(r2)
    );
    assert!(store.run_by_occurrence("c2", occ2).await.unwrap().is_none());
    assert!(store.run(r3 + 100).await.unwrap().is_none());
}

async fn contacts_read_back_whole_by_id_with_tags_and_lists(store: &impl Store) {
    assert_eq!(store.max_contact_id().await.unwrap(), 0);
    assert!(store.contacts_by_ids(&[]).await.unwrap().is_empty());
    assert!(store.lists_of_contacts(&[]).await.unwrap().is_empty());

    let mut full = person("D", "+447400100004", 1.5);
    full.contact.last_name = Some("Doe".into());
    full.contact.timezone = Some(herald::domain::values::TimeZone::parse("Europe/London").unwrap());
    full.contact.consent = Consents {
        sms: Consent::Granted,
        email: Consent::Denied,
        call: Consent::Unknown,
    };
    full.contact.attributes = BTreeMap::from([
        ("balance".to_string(), AttributeValue::Number(1.5)),
        ("vip".to_string(), AttributeValue::Bool(true)),
        (
            "due".to_string(),
            AttributeValue::Date(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
        ),
        ("plan".to_string(), AttributeValue::Text("gold".into())),
    ]);
    store
        .upsert_contacts(
            &[
                person("A", "+447400100001", 1.0),
                person("B", "+447400100002", 1.0),
            ],
            ALL,
            Some("l1"),
            t0(),
        )
        .await
        .unwrap();
    store
        .upsert_contacts(
            &[person("A", "+447400100001", 1.0), full.clone()],
            ALL,
            Some("l2"),
            t0(),
        )
        .await
        .unwrap();
    // One external id twice in a batch: each row counts, the last one written wins.
    let twice = store
        .upsert_contacts(
            &[
                person("E", "+447400100005", 1.0),
                person("E", "+447400100005", 2.0),
            ],
            ALL,
            None,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!((twice.inserted, twice.updated, twice.unchanged), (2, 0, 0));
    assert_eq!(store.count_contacts().await.unwrap(), 4);
    let e = store.contact("E").await.unwrap().unwrap();
    assert_eq!(e.attributes["balance"], AttributeValue::Number(2.0));
    assert_eq!(e.tags.len(), 1);

    let a = store.contact("A").await.unwrap().unwrap();
    let b = store.contact("B").await.unwrap().unwrap();
    let d = store.contact("D").await.unwrap().unwrap();
    let mut expected = full.contact.clone();
    expected.id = d.id;
    expected.tags = d.tags.clone();
    assert_eq!(d, expected, "every field reads back as written");
    assert_eq!(store.contact_by_id(d.id).await.unwrap(), Some(d.clone()));
    assert!(store.contact("nobody").await.unwrap().is_none());
    assert!(store.contact_by_id(e.id + 100).await.unwrap().is_none());

    let mut found = store
        .contacts_by_ids(&[a.id, d.id, e.id + 100])
        .await
        .unwrap();
    found.sort_by_key(|c| c.id);
    assert_eq!(found, vec![a.clone(), d.clone()]);
    assert_eq!(
        store.lists_of_contacts(&[a.id, b.id, d.id]).await.unwrap(),
        vec![
            (a.id, "l1".to_string()),
            (a.id, "l2".to_string()),
            (b.id, "l1".to_string()),
            (d.id, "l2".to_string()),
        ]
    );
    assert_eq!(store.lists_of(a.id).await.unwrap(), vec!["l1", "l2"]);
    let lists = store.list_counts().await.unwrap();
    assert_eq!(
        lists
            .iter()
            .map(|l| (l.name.as_str(), l.count))
            .collect::<Vec<_>>(),
        vec![("l1", 2), ("l2", 2)]
    );
    assert_eq!(store.max_contact_id().await.unwrap(), e.id);
    assert_eq!(
        store
            .attribute_keys()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["balance", "due", "plan", "vip"]
    );

    // A tag set again takes the new source and expiry; tags come back sorted by name.
    let later = t0() + Duration::days(3);
    for (source, expires) in [("first", None), ("second", Some(later))] {
        let tag = Tag {
            name: "a-tag".into(),
            source: source.into(),
            expires_at: expires,
        };
        store.upsert_tag(a.id, &tag, t0()).await.unwrap();
    }
    let a = store.contact_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(
        a.tags,
        vec![
            Tag {
                name: "a-tag".into(),
                source: "second".into(),
                expires_at: Some(later),
            },
            Tag {
                name: "imported".into(),
                source: "import".into(),
                expires_at: None,
            },
        ]
    );
    assert_eq!(
        store
            .tag_counts(later)
            .await
            .unwrap()
            .iter()
            .map(|c| (c.name.as_str(), c.count))
            .collect::<Vec<_>>(),
        vec![("imported", 4)],
        "a tag is out of force from its expiry on"
    );
}

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
        .create_run("c1", v, t0(), "planning", t0())
        .await
        .unwrap()
        .unwrap();
    let r2 = store
        .create_run("c2", v, t0(), "planning", t0())
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
            "delivered",
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

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}", dir.path().join("store.db").display()),
        true,
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = super::sqlite().await;
                    super::$name(&store).await;
                }
            )*
        }
    };
}

/// The same behaviours on a fresh PostgreSQL database per test, on the server
/// `HERALD_TEST_POSTGRES_URL` names (skipped, with a note, when it is not set).
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(url) = herald::store::postgres::fresh_test_database().await else {
                        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped on PostgreSQL");
                        return;
                    };
                    let store = herald::store::PgStore::open(&url).await.unwrap();
                    herald::store::Store::migrate(&store).await.unwrap();
                    super::$name(&store).await;
                }
            )*
        }
    };
}

/// Every conformance behaviour, on every store.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        on_sqlite!($($name),*);
        on_postgres!($($name),*);
    };
}

conformance!(
    upserts_count_new_changed_and_unchanged_rows,
    an_import_of_many_batches_reports_each_bad_row_by_line_and_writes_the_rest,
    an_import_whose_file_fails_midway_stops_with_the_error,
    absent_columns_keep_stored_values_and_attributes_merge,
    audience_pages_visit_each_member_once_in_id_order,
    suppressions_deduplicate_match_and_expire,
    tags_count_only_while_in_force,
    attempts_insert_once_and_keep_every_field,
    claims_take_due_attempts_of_active_campaigns_once,
    concurrent_claims_never_take_the_same_attempt,
    a_silent_daemons_claims_go_back_and_a_live_ones_stay,
    attempts_move_through_their_states_once,
    cancels_touch_only_queued_attempts_they_name,
    a_write_group_applies_only_when_its_guard_holds,
    a_dispatch_batch_applies_set_wise_as_one_write_at_a_time,
    an_inbox_batch_applies_set_wise_as_one_write_at_a_time,
    a_failed_batch_of_writes_leaves_nothing,
    the_inbox_takes_each_event_once_and_applies_it_once,
    survey_answers_revise_and_replies_find_their_message,
    the_desk_gives_each_call_to_one_agent,
    racing_takes_never_give_an_agent_more_than_their_capacity,
    a_rate_bucket_refills_with_time_and_never_backwards,
    concurrent_takers_share_one_rate_bucket,
    campaigns_versions_and_runs_keep_their_state,
    contacts_read_back_whole_by_id_with_tags_and_lists,
    ledger_reads_count_history_tallies_and_stats,
    reports_read_contacts_steps_and_quarter_hours,
    exports_stream_typed_cells_in_id_order,
    exports_longer_than_a_page_give_every_row_once_in_order,
);

// --- the ledger: attempts, claims, writes, inbox, desk, survey answers ---------------

/// Two contacts (A, B) and one running run of campaign `c1`: (run id, A's id, B's id).
async fn ledger_fixture(store: &impl Store) -> (i64, i64, i64) {
    store
        .upsert_contacts(
            &[
                person("A", "+447400100001", 1.0),
                person("B", "+447400100002", 1.0),
            ],
            ALL,
            None,
            t0(),
        )
        .await
        .unwrap();
    let a = store.contact("A").await.unwrap().unwrap().id;
    let b = store.contact("B").await.unwrap().unwrap().id;
    let version = store
        .campaign_version("c1", "hash1", "source", t0())
        .await
        .unwrap();
    let run = store
        .create_run("c1", version, t0(), "running", t0())
        .await
        .unwrap()
        .unwrap();
    (run, a, b)
}

fn new_attempt(
    run_id: i64,
    contact_id: i64,
    step: &str,
    channel: Channel,
    not_before: DateTime<Utc>,
) -> NewAttempt {
    NewAttempt {
        run_id,
        contact_id,
        step: step.into(),
        step_index: 0,
        channel,
        attempt_no: 1,
        not_before,
        obligation: None,
        after_attempt: None,
        condition: None,
        variant: None,
        prompt: None,
    }
}

async fn attempts_insert_once_and_keep_every_field(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let first = new_attempt(run, a, "sms1", Channel::Sms, t0());
    assert_eq!(
        store
            .insert_attempts(std::slice::from_ref(&first), t0())
            .await
            .unwrap(),
        1
    );
    let first_id = store
        .attempt_by_key(&first.idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let full = NewAttempt {
        step_index: 2,
        attempt_no: 3,
        obligation: Some("debt-7".into()),
        after_attempt: Some(first_id),
        condition: Some(Outcome::NoReply),
        variant: Some("b".into()),
        prompt: Some("ask:nps".into()),
        ..new_attempt(run, a, "call", Channel::VoiceBot, t0() + Duration::hours(2))
    };
    let other = new_attempt(run, b, "sms1", Channel::Sms, t0());
    // The repeat of `first` (same key) is left alone, in the batch as across batches.
    let batch = vec![first.clone(), full.clone(), other.clone(), full.clone()];
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 2);
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 0);
    assert_eq!(store.insert_attempts(&[], t0()).await.unwrap(), 0);

    let got = store
        .attempt_by_key(&full.idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.run_id, got.contact_id, got.campaign.as_str()),
        (run, a, "c1")
    );
    assert_eq!((got.step.as_str(), got.step_index), ("call", 2));
    assert_eq!((got.channel, got.attempt_no), (Channel::VoiceBot, 3));
    assert_eq!(got.not_before, t0() + Duration::hours(2));
    assert_eq!(got.state, AttemptState::Queued);
    assert_eq!(got.idempotency_key, full.idempotency_key());
    assert_eq!(got.obligation.as_deref(), Some("debt-7"));
    assert_eq!(got.after_attempt, Some(first_id));
    assert_eq!(got.condition, Some(Outcome::NoReply));
    assert_eq!(got.variant.as_deref(), Some("b"));
    assert_eq!(got.prompt.as_deref(), Some("ask:nps"));
    assert!(!got.connected);
    assert_eq!(
        (got.sent_at, got.provider_ref, got.outcome),
        (None, None, None)
    );
    assert!(store.attempt_by_key("nope").await.unwrap().is_none());

    let of_a = store.attempts_of_contact_in_run(run, a).await.unwrap();
    assert_eq!(
        of_a.iter().map(|x| x.step.as_str()).collect::<Vec<_>>(),
        vec!["sms1", "call"],
        "in id order, which is the batch's order"
    );
    let both = store
        .attempts_of_contacts_in_runs(&[run], &[a, b])
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    assert!(both.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        store
            .attempts_of_contacts_in_runs(&[run + 100], &[a, b])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .attempts_of_contacts_in_runs(&[], &[a])
            .await
            .unwrap()
            .is_empty()
    );
    let by_keys = store
        .attempts_by_keys(&[other.idempotency_key(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(by_keys.len(), 1);
    assert_eq!(by_keys[0].contact_id, b);
    assert!(store.attempts_by_keys(&[]).await.unwrap().is_empty());
}

async fn claims_take_due_attempts_of_active_campaigns_once(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0() - Duration::minutes(5)),
        new_attempt(run, a, "s2", Channel::Email, t0() + Duration::hours(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() - Duration::minutes(5))
    );

    store
        .set_campaign_state("c1", "paused", t0())
        .await
        .unwrap();
    assert!(store.claim_due(t0(), 10, "d1").await.unwrap().is_empty());
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "a paused campaign waits for nothing"
    );
    store
        .set_campaign_state("c1", "active", t0())
        .await
        .unwrap();

    let first = store.claim_due(t0(), 1, "d1").await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].contact_id, b, "the earliest due first");
    assert_eq!(first[0].state, AttemptState::Sending);
    let second = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(
        second.len(),
        1,
        "the later attempt is not due yet: {second:?}"
    );
    assert_eq!((second[0].contact_id, second[0].step.as_str()), (a, "s1"));
    assert!(store.claim_due(t0(), 10, "d1").await.unwrap().is_empty());
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() + Duration::hours(1))
    );

    let ids = [first[0].id, second[0].id];
    assert_eq!(store.attempts_claimed(&ids, t0()).await.unwrap().len(), 2);
    assert!(
        store
            .attempts_claimed(&ids, t0() + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.attempts_claimed(&[], t0()).await.unwrap().is_empty());

    // A dispatcher that died: its claims go back to the queue and are claimed again.
    let later = t0() + Duration::minutes(10);
    assert_eq!(
        store
            .requeue_stale(t0(), t0() - Duration::hours(1), later)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .requeue_stale(
                t0() + Duration::seconds(1),
                t0() - Duration::hours(1),
                later
            )
            .await
            .unwrap(),
        2
    );
    let again = store.claim_due(later, 10, "d1").await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(store.attempts_claimed(&ids, t0()).await.unwrap().is_empty());
    assert_eq!(store.attempts_claimed(&ids, later).await.unwrap().len(), 2);
}

async fn concurrent_claims_never_take_the_same_attempt(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let batch: Vec<NewAttempt> = (0..60)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("s{i}"), Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .collect();
    assert_eq!(store.insert_attempts(&batch, t0()).await.unwrap(), 60);
    let (w, x, y, z) = tokio::join!(
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
        store.claim_due(t0(), 20, "d1"),
    );
    let mut ids: Vec<i64> = [w, x, y, z]
        .into_iter()
        .flat_map(|r| r.unwrap())
        .map(|a| a.id)
        .collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "an attempt was claimed twice");
    assert_eq!(claimed, 60, "every due attempt is claimed by someone");
}

async fn a_silent_daemons_claims_go_back_and_a_live_ones_stay(store: &impl Store) {
    use herald::store::Daemon;
    let (run, a, _) = ledger_fixture(store).await;
    let batch: Vec<NewAttempt> = (0..6)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("s{i}"), Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let daemon = |id: &str| Daemon {
        id: id.into(),
        host: "h".into(),
        pid: 1,
        started_at: t0(),
        seen_at: t0(),
    };
    let (d1, d2) = (daemon("d1"), daemon("d2"));
    store.daemon_beat(&d1, t0()).await.unwrap();
    store.daemon_beat(&d2, t0()).await.unwrap();
    let by_d1 = store.claim_due(t0(), 2, "d1").await.unwrap();
    let by_d2 = store.claim_due(t0(), 2, "d2").await.unwrap();
    let by_d3 = store.claim_due(t0(), 2, "d3").await.unwrap();
    assert_eq!((by_d1.len(), by_d2.len(), by_d3.len()), (2, 2, 2));

    // Twenty seconds on, d1 is still beating and d2 has stopped; d3 never beat (a
    // one-off process), so only its lease can free its claims.
    let now = t0() + Duration::seconds(20);
    store.daemon_beat(&d1, now).await.unwrap();
    let lease_cutoff = t0() - Duration::minutes(5);
    assert_eq!(
        store
            .requeue_stale(lease_cutoff, now - Duration::seconds(15), now)
            .await
            .unwrap(),
        2,
        "the silent daemon's claims, and only those, go back"
    );
    let ids = |v: &[herald::domain::ledger::Attempt]| v.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        store
            .attempts_claimed(&ids(&by_d1), t0())
            .await
            .unwrap()
            .len(),
        2,
        "a live daemon keeps its claims"
    );
    assert!(
        store
            .attempts_claimed(&ids(&by_d2), t0())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .attempts_claimed(&ids(&by_d3), t0())
            .await
            .unwrap()
            .len(),
        2
    );
    let retaken = store.claim_due(now, 10, "d1").await.unwrap();
    assert_eq!(ids(&retaken), ids(&by_d2), "taken over by a live daemon");

    let seen: Vec<(String, DateTime<Utc>)> = store
        .daemons()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.seen_at))
        .collect();
    assert_eq!(seen, vec![("d1".into(), now), ("d2".into(), t0())]);

    // d1 stops: what it holds goes back at once, and it is forgotten with d2, silent
    // since before the cut-off.
    assert_eq!(
        store
            .daemon_gone("d1", t0() + Duration::seconds(1), now)
            .await
            .unwrap(),
        4
    );
    assert!(store.daemons().await.unwrap().is_empty());
    assert!(
        store
            .attempts_claimed(&ids(&by_d1), t0())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn attempts_move_through_their_states_once(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, a, "s2", Channel::Sms, t0()),
        new_attempt(run, a, "s3", Channel::Sms, t0() + Duration::days(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let (one, two) = (claimed[0].id, claimed[1].id);
    let three = store
        .attempt_by_key(&batch[2].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;

    let at = t0() + Duration::seconds(3);
    assert!(store.mark_sent(one, at, "prov-1").await.unwrap());
    assert!(
        !store.mark_sent(one, at, "prov-2").await.unwrap(),
        "only from sending"
    );
    assert!(
        !store.mark_sent(three, at, "prov-3").await.unwrap(),
        "not from queued"
    );
    let sent = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.state, AttemptState::Sent);
    assert_eq!(
        (sent.sent_at, sent.provider_ref.as_deref()),
        (Some(at), Some("prov-1"))
    );

    store.set_connected(one, at).await.unwrap();
    assert!(
        store
            .attempt_by_key(&batch[0].idempotency_key())
            .await
            .unwrap()
            .unwrap()
            .connected
    );
    assert!(
        store
            .close_attempt(
                one,
                AttemptState::Done,
                Some(Outcome::Delivered),
                true,
                Some("ok"),
                at
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .close_attempt(
                one,
                AttemptState::Done,
                Some(Outcome::Failed),
                false,
                None,
                at
            )
            .await
            .unwrap(),
        "a second outcome changes nothing"
    );
    let done = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, AttemptState::Done);
    assert_eq!(done.outcome, Some(Outcome::Delivered));
    assert_eq!(done.reason.as_deref(), Some("ok"));

    // An opt-out replaces the outcome of a closed attempt and closes an open one.
    store.mark_opted_out(one, at).await.unwrap();
    store.mark_opted_out(three, at).await.unwrap();
    let one_now = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one_now.state, one_now.outcome),
        (AttemptState::Done, Some(Outcome::OptedOut))
    );
    let three_now = store
        .attempt_by_key(&batch[2].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (three_now.state, three_now.outcome),
        (AttemptState::Done, Some(Outcome::OptedOut))
    );
    assert!(three_now.connected);

    // Rescheduled from sending: back to the queue with its reason, its claim dropped.
    let later = t0() + Duration::hours(4);
    store
        .reschedule(two, later, "quiet hours", at)
        .await
        .unwrap();
    let two_now = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (two_now.state, two_now.not_before),
        (AttemptState::Queued, later)
    );
    assert_eq!(two_now.reason.as_deref(), Some("quiet hours"));
    assert!(
        store
            .attempts_claimed(&[two], t0())
            .await
            .unwrap()
            .is_empty()
    );
    // ... but a closed attempt is never reopened.
    store.reschedule(one, later, "again", at).await.unwrap();
    assert_eq!(
        store
            .attempt_by_key(&batch[0].idempotency_key())
            .await
            .unwrap()
            .unwrap()
            .state,
        AttemptState::Done
    );
    assert_eq!(store.next_due().await.unwrap(), Some(later));
}

async fn cancels_touch_only_queued_attempts_they_name(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let version = store
        .campaign_version("c2", "hash2", "source", t0())
        .await
        .unwrap();
    let run2 = store
        .create_run("c2", version, t0(), "running", t0())
        .await
        .unwrap()
        .unwrap();
    let later = t0() + Duration::hours(1);
    let batch = vec![
        new_attempt(run, a, "sms", Channel::Sms, later),
        new_attempt(run, a, "mail", Channel::Email, later),
        new_attempt(run, a, "call", Channel::VoiceBot, later),
        new_attempt(run2, a, "sms", Channel::Sms, later),
        new_attempt(run, b, "sms", Channel::Sms, later),
        new_attempt(run, b, "now", Channel::Sms, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let sending = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(sending.len(), 1);

    let state = |i: usize| {
        let key = batch[i].idempotency_key();
        async move { store.attempt_by_key(&key).await.unwrap().unwrap() }
    };
    assert_eq!(
        store
            .cancel_queued_for_contact(
                a,
                &[Channel::Sms, Channel::Email],
                Some(run),
                "opted out",
                t0()
            )
            .await
            .unwrap(),
        2
    );
    assert_eq!(state(0).await.state, AttemptState::Cancelled);
    assert_eq!(state(0).await.reason.as_deref(), Some("opted out"));
    assert_eq!(state(1).await.state, AttemptState::Cancelled);
    assert_eq!(
        state(2).await.state,
        AttemptState::Queued,
        "another channel"
    );
    assert_eq!(state(3).await.state, AttemptState::Queued, "another run");
    assert_eq!(
        store
            .cancel_queued_for_contact(a, &[Channel::Sms], None, "opted out", t0())
            .await
            .unwrap(),
        1,
        "every run"
    );
    assert_eq!(state(3).await.state, AttemptState::Cancelled);

    assert_eq!(
        store
            .cancel_queued_for_campaign("c1", "cancelled", t0())
            .await
            .unwrap(),
        2
    );
    assert_eq!(state(2).await.state, AttemptState::Cancelled);
    assert_eq!(state(4).await.state, AttemptState::Cancelled);
    assert_eq!(
        state(5).await.state,
        AttemptState::Sending,
        "only queued ones"
    );
    assert_eq!(
        store
            .cancel_queued_for_campaign("c1", "cancelled", t0())
            .await
            .unwrap(),
        0
    );
}

async fn a_write_group_applies_only_when_its_guard_holds(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0() + Duration::hours(1)),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let sending = claimed[0].id;
    let queued = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let at = t0() + Duration::seconds(5);
    let vip = Tag {
        name: "vip".into(),
        source: "c1".into(),
        expires_at: Some(t0() + Duration::days(30)),
    };
    let event = |id: i64, kind: &str| Write::Event {
        attempt_id: id,
        kind: kind.into(),
        detail: Some("d".into()),
        payload: serde_json::json!({"n": 1, "s": "x"}),
        occurred_at: at,
    };
    let follow_up = new_attempt(run, a, "s2", Channel::Email, t0() + Duration::days(1));
    let groups = vec![
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: sending,
                at,
                provider_ref: "p1".into(),
            }),
            then: vec![
                event(sending, "sent"),
                Write::Connected { id: sending },
                Write::Tag {
                    contact_id: a,
                    tag: vip.clone(),
                },
                Write::Attempt(follow_up.clone()),
            ],
        },
        // Its guard fails (the attempt is queued, not sending): nothing of it happens.
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: queued,
                at,
                provider_ref: "p2".into(),
            }),
            then: vec![
                event(queued, "sent"),
                Write::Untag {
                    contact_id: a,
                    name: "imported".into(),
                },
            ],
        },
        WriteGroup {
            guard: None,
            then: vec![
                Write::Reschedule {
                    id: queued,
                    not_before: t0() + Duration::hours(3),
                    reason: "window".into(),
                },
                Write::Inbox {
                    provider: "sms-gw".into(),
                    event_key: "e1".into(),
                    idempotency_key: batch[0].idempotency_key(),
                    report: Report::Reply { text: "YES".into() },
                    due_at: at,
                },
            ],
        },
        // A later group sees the writes of the earlier ones in the same transaction.
        WriteGroup {
            guard: Some(Write::Close {
                id: sending,
                state: AttemptState::Done,
                outcome: Some(Outcome::Replied),
                connected: true,
                reason: None,
            }),
            then: vec![Write::Untag {
                contact_id: a,
                name: "imported".into(),
            }],
        },
        WriteGroup {
            guard: Some(Write::Close {
                id: sending,
                state: AttemptState::Done,
                outcome: Some(Outcome::Failed),
                connected: false,
                reason: None,
            }),
            then: vec![event(sending, "never")],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, false, true, true, false]
    );

    let first = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.provider_ref.as_deref(), Some("p1"));
    assert!(first.connected);
    assert_eq!(
        (first.state, first.outcome),
        (AttemptState::Done, Some(Outcome::Replied))
    );
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.state, AttemptState::Queued);
    assert_eq!(second.provider_ref, None);
    assert_eq!(second.not_before, t0() + Duration::hours(3));
    assert!(
        store
            .attempt_by_key(&follow_up.idempotency_key())
            .await
            .unwrap()
            .is_some()
    );

    let contact = store.contact("A").await.unwrap().unwrap();
    let tags: Vec<&str> = contact.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, vec!["vip"], "vip added, imported removed");
    assert_eq!(contact.tags[0].expires_at, vip.expires_at);

    let events = store.events_of_contact(a, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "sent");
    assert_eq!(events[0]["detail"], "d");
    assert_eq!(events[0]["campaign"], "c1");
    assert_eq!(events[0]["step"], "s1");
    assert_eq!(events[0]["channel"], "sms");
    assert_eq!(events[0]["attempt"], 1);
    assert_eq!(events[0]["payload"], serde_json::json!({"n": 1, "s": "x"}));
    assert!(store.events_of_contact(b, 10).await.unwrap().is_empty());

    let inbox = store.inbox_due(at, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].report, Report::Reply { text: "YES".into() });
    // Applying the same item twice: the second write changes nothing.
    let applied = WriteGroup {
        guard: Some(Write::InboxApplied { id: inbox[0].id }),
        then: vec![],
    };
    assert_eq!(
        store
            .apply_writes(&[applied.clone(), applied], at)
            .await
            .unwrap(),
        vec![true, false]
    );
    assert_eq!(store.inbox_pending().await.unwrap(), 0);
    assert!(store.apply_writes(&[], at).await.unwrap().is_empty());
}

/// A batch shaped like a dispatch (guards on distinct attempts, then only inserts) is
/// applied a statement per kind of write; what it does must be what one write at a time
/// does: failed guards drop their inserts, times keep their order, payloads stay JSON.
async fn a_dispatch_batch_applies_set_wise_as_one_write_at_a_time(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let steps = ["s1", "s2", "s3", "s4"];
    let batch: Vec<NewAttempt> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut x = new_attempt(run, a, step, Channel::Sms, t0());
            x.step_index = i;
            x
        })
        .chain(std::iter::once(new_attempt(
            run,
            b,
            "s1",
            Channel::Sms,
            t0() + Duration::hours(2),
        )))
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    assert_eq!(claimed.len(), 4);
    let id = |i: usize| claimed[i].id;
    let not_claimed = store
        .attempt_by_key(&batch[4].idempotency_key())
        .await
        .unwrap()
        .unwrap()
        .id;
    let at = t0() + Duration::milliseconds(1500);
    let event = |attempt_id: i64, kind: &str, detail: Option<&str>| Write::Event {
        attempt_id,
        kind: kind.into(),
        detail: detail.map(Into::into),
        payload: serde_json::json!({"template": "t", "n": [1, 2]}),
        occurred_at: at,
    };
    let follow_up = new_attempt(run, a, "s9", Channel::Email, t0() + Duration::days(1));
    let sent = |i: usize, r: &str| Write::MarkSent {
        id: id(i),
        at,
        provider_ref: r.into(),
    };
    let groups = vec![
        WriteGroup {
            guard: Some(sent(0, "p0")),
            then: vec![
                event(id(0), "sent", None),
                Write::Inbox {
                    provider: "sim".into(),
                    event_key: "k0".into(),
                    idempotency_key: batch[0].idempotency_key(),
                    report: Report::Reply { text: "YES".into() },
                    due_at: at,
                },
                Write::Attempt(follow_up.clone()),
            ],
        },
        // Queued, not sending: the guard fails and its event is not written.
        WriteGroup {
            guard: Some(Write::MarkSent {
                id: not_claimed,
                at,
                provider_ref: "px".into(),
            }),
            then: vec![event(not_claimed, "sent", None)],
        },
        WriteGroup {
            guard: Some(Write::Reschedule {
                id: id(1),
                not_before: t0() + Duration::minutes(90),
                reason: "window_closed".into(),
            }),
            then: vec![],
        },
        WriteGroup {
            guard: Some(Write::Close {
                id: id(2),
                state: AttemptState::Skipped,
                outcome: None,
                connected: false,
                reason: Some("dnc".into()),
            }),
            then: vec![event(id(2), "skipped", Some("dnc"))],
        },
        WriteGroup {
            guard: Some(sent(3, "p3")),
            then: vec![event(id(3), "sent", None)],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, false, true, true, true]
    );
    let keys: Vec<String> = batch.iter().map(|x| x.idempotency_key()).collect();
    let read = |i: usize| store.attempt_by_key(&keys[i]);
    let first = read(0).await.unwrap().unwrap();
    assert_eq!(first.state, AttemptState::Sent);
    assert_eq!(
        first.sent_at,
        Some(at),
        "the time survives to the millisecond"
    );
    assert_eq!(first.provider_ref.as_deref(), Some("p0"));
    let rescheduled = read(1).await.unwrap().unwrap();
    assert_eq!(rescheduled.state, AttemptState::Queued);
    assert_eq!(rescheduled.not_before, t0() + Duration::minutes(90));
    let skipped = read(2).await.unwrap().unwrap();
    assert_eq!(
        (skipped.state, skipped.reason.as_deref()),
        (AttemptState::Skipped, Some("dnc"))
    );
    assert_eq!(
        read(3).await.unwrap().unwrap().provider_ref.as_deref(),
        Some("p3")
    );
    let untouched = read(4).await.unwrap().unwrap();
    assert_eq!(
        (untouched.state, untouched.provider_ref),
        (AttemptState::Queued, None)
    );
    assert!(
        store
            .attempt_by_key(&follow_up.idempotency_key())
            .await
            .unwrap()
            .is_some()
    );
    // The rescheduled attempt is due at its new time, not before, by the stored times.
    assert!(
        store
            .claim_due(t0() + Duration::minutes(89), 10, "d1")
            .await
            .unwrap()
            .is_empty()
    );
    let due: Vec<i64> = store
        .claim_due(t0() + Duration::minutes(90), 10, "d1")
        .await
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(due, vec![id(1)]);

    let events = store.events_of_contact(a, 10).await.unwrap();
    let kinds: Vec<(&str, &serde_json::Value)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), &e["detail"]))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sent", &serde_json::Value::Null),
            ("skipped", &serde_json::json!("dnc")),
            ("sent", &serde_json::Value::Null)
        ]
    );
    assert_eq!(
        events[0]["payload"],
        serde_json::json!({"template": "t", "n": [1, 2]})
    );
    assert!(store.events_of_contact(b, 10).await.unwrap().is_empty());
    let inbox = store.inbox_due(at, 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].report, Report::Reply { text: "YES".into() });

    // The same batch again: every guard fails but the reschedule's (its attempt was
    // claimed again just above), and nothing is written twice.
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![false, false, true, false, false]
    );
    assert_eq!(store.events_of_contact(a, 10).await.unwrap().len(), 3);
}

/// A batch shaped like provider events being applied (each guarded by its inbox item,
/// then closes, connections, tags and inserts) is applied set-wise; a batch that closes one
/// attempt twice is applied one write at a time, the first close winning, as before.
async fn an_inbox_batch_applies_set_wise_as_one_write_at_a_time(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    let batch = vec![
        new_attempt(run, a, "s1", Channel::Sms, t0()),
        new_attempt(run, b, "s1", Channel::Sms, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let (x, y) = (claimed[0].id, claimed[1].id);
    let sent = |id| WriteGroup {
        guard: Some(Write::MarkSent {
            id,
            at: t0(),
            provider_ref: "p".into(),
        }),
        then: vec![],
    };
    store.apply_writes(&[sent(x), sent(y)], t0()).await.unwrap();
    let report = Report::Reply { text: "ok".into() };
    let items: Vec<(String, String, Report, DateTime<Utc>)> = (0..3)
        .map(|i| {
            (
                format!("e{i}"),
                batch[0].idempotency_key(),
                report.clone(),
                t0(),
            )
        })
        .collect();
    store.inbox_push("sim", &items, t0()).await.unwrap();
    let inbox: Vec<i64> = store
        .inbox_due(t0(), 10)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    // The third item was applied already.
    store
        .apply_writes(
            &[WriteGroup {
                guard: Some(Write::InboxApplied { id: inbox[2] }),
                then: vec![],
            }],
            t0(),
        )
        .await
        .unwrap();
    let at = t0() + Duration::seconds(3);
    let event = |attempt_id, kind: &str| Write::Event {
        attempt_id,
        kind: kind.into(),
        detail: None,
        payload: serde_json::Value::Null,
        occurred_at: at,
    };
    let replied = Tag {
        name: "replied".into(),
        source: "c1".into(),
        expires_at: None,
    };
    let groups = vec![
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[0] }),
            then: vec![
                event(x, "delivered"),
                Write::Close {
                    id: x,
                    state: AttemptState::Done,
                    outcome: Some(Outcome::Delivered),
                    connected: false,
                    reason: None,
                },
            ],
        },
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[1] }),
            then: vec![
                event(y, "replied"),
                Write::Connected { id: y },
                Write::Tag {
                    contact_id: b,
                    tag: replied.clone(),
                },
                Write::Attempt(new_attempt(run, b, "s2", Channel::Sms, at)),
            ],
        },
        WriteGroup {
            guard: Some(Write::InboxApplied { id: inbox[2] }),
            then: vec![event(y, "twice"), Write::Connected { id: x }],
        },
    ];
    assert_eq!(
        store.apply_writes(&groups, at).await.unwrap(),
        vec![true, true, false]
    );
    let first = store
        .attempt_by_key(&batch[0].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.state, first.outcome, first.connected),
        (AttemptState::Done, Some(Outcome::Delivered), false)
    );
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.state, second.connected), (AttemptState::Sent, true));
    let contact = store.contact("B").await.unwrap().unwrap();
    assert!(contact.tags.iter().any(|t| t.name == "replied"));
    let next = new_attempt(run, b, "s2", Channel::Sms, at).idempotency_key();
    assert!(store.attempt_by_key(&next).await.unwrap().is_some());
    let kinds = |id| async move {
        store
            .events_of_contact(id, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(a).await, vec!["delivered"]);
    assert_eq!(kinds(b).await, vec!["replied"]);
    assert_eq!(store.inbox_pending().await.unwrap(), 0);

    // Two closes of one attempt in one batch: one at a time, the first wins.
    let close = |outcome| WriteGroup {
        guard: None,
        then: vec![Write::Close {
            id: y,
            state: AttemptState::Done,
            outcome: Some(outcome),
            connected: true,
            reason: None,
        }],
    };
    store
        .apply_writes(&[close(Outcome::Replied), close(Outcome::Failed)], at)
        .await
        .unwrap();
    let second = store
        .attempt_by_key(&batch[1].idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.outcome, Some(Outcome::Replied));
}

async fn a_failed_batch_of_writes_leaves_nothing(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    let first = new_attempt(run, a, "s1", Channel::Sms, t0());
    store
        .insert_attempts(std::slice::from_ref(&first), t0())
        .await
        .unwrap();
    let id = store.claim_due(t0(), 1, "d1").await.unwrap()[0].id;
    let groups = vec![
        WriteGroup {
            guard: Some(Write::MarkSent {
                id,
                at: t0(),
                provider_ref: "p1".into(),
            }),
            then: vec![Write::Tag {
                contact_id: a,
                tag: Tag {
                    name: "vip".into(),
                    source: "c1".into(),
                    expires_at: None,
                },
            }],
        },
        // An event on an attempt that does not exist breaks a foreign key.
        WriteGroup {
            guard: None,
            then: vec![Write::Event {
                attempt_id: id + 1000,
                kind: "sent".into(),
                detail: None,
                payload: serde_json::json!({}),
                occurred_at: t0(),
            }],
        },
    ];
    assert!(store.apply_writes(&groups, t0()).await.is_err());
    let after = store
        .attempt_by_key(&first.idempotency_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.state,
        AttemptState::Sending,
        "the first group was rolled back too"
    );
    assert_eq!(after.provider_ref, None);
    let tags = store.contact("A").await.unwrap().unwrap().tags;
    assert!(tags.iter().all(|t| t.name != "vip"));
}

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

async fn the_desk_gives_each_call_to_one_agent(store: &impl Store) {
    let (run, a, b) = ledger_fixture(store).await;
    store
        .upsert_agent("ann", &["collections".into(), "fr".into()], 2, t0())
        .await
        .unwrap();
    assert_eq!(
        store.agent("ann").await.unwrap(),
        Some((vec!["collections".to_string(), "fr".to_string()], 2))
    );
    store.upsert_agent("ann", &[], 3, t0()).await.unwrap();
    assert_eq!(store.agent("ann").await.unwrap(), Some((vec![], 3)));
    assert_eq!(store.agent("bob").await.unwrap(), None);
    store
        .upsert_agent("bob", &["fr".into()], 2, t0())
        .await
        .unwrap();
    store.upsert_agent("carl", &[], 5, t0()).await.unwrap();

    let batch = vec![
        new_attempt(run, a, "call", Channel::Agent, t0()),
        new_attempt(run, b, "call", Channel::Agent, t0()),
        new_attempt(run, b, "bot", Channel::VoiceBot, t0()),
    ];
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    let id_of = |i: usize| {
        claimed
            .iter()
            .find(|x| x.idempotency_key == batch[i].idempotency_key())
            .unwrap()
            .id
    };
    // Handed to the desk: B's call first, then A's; the bot call is not the desk's.
    store.mark_sent(id_of(1), t0(), "desk-1").await.unwrap();
    store
        .mark_sent(id_of(0), t0() + Duration::minutes(1), "desk-2")
        .await
        .unwrap();
    store.mark_sent(id_of(2), t0(), "desk-3").await.unwrap();
    let waiting = store.desk_waiting(10).await.unwrap();
    assert_eq!(
        waiting.iter().map(|x| x.contact_id).collect::<Vec<_>>(),
        vec![b, a],
        "oldest first, agent calls only"
    );
    assert_eq!(store.desk_waiting(1).await.unwrap().len(), 1);

    let (ann, bob) = tokio::join!(
        store.desk_take(id_of(1), "ann", t0()),
        store.desk_take(id_of(1), "bob", t0()),
    );
    assert_eq!(
        [ann.unwrap(), bob.unwrap()]
            .iter()
            .filter(|t| **t == DeskTake::Taken)
            .count(),
        1,
        "exactly one agent gets the call"
    );
    let holder = if store.desk_held_by("ann").await.unwrap().is_empty() {
        "bob"
    } else {
        "ann"
    };
    assert_eq!(
        store.desk_take(id_of(1), "carl", t0()).await.unwrap(),
        DeskTake::Gone
    );
    assert_eq!(
        store.desk_take(id_of(1), "dora", t0()).await.unwrap(),
        DeskTake::UnknownAgent
    );
    assert_eq!(
        store
            .desk_take(id_of(0), holder, t0() + Duration::minutes(2))
            .await
            .unwrap(),
        DeskTake::Taken
    );
    let held = store.desk_held_by(holder).await.unwrap();
    assert_eq!(
        held.iter().map(|x| x.contact_id).collect::<Vec<_>>(),
        vec![b, a],
        "in the order taken"
    );
    assert!(store.desk_waiting(10).await.unwrap().is_empty());
    assert!(store.desk_held_by("carl").await.unwrap().is_empty());
    // A closed call is no longer held.
    store
        .close_attempt(
            id_of(0),
            AttemptState::Done,
            Some(Outcome::Paid),
            true,
            None,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.desk_held_by(holder).await.unwrap().len(), 1);
    assert_eq!(
        store.desk_take(id_of(0), "carl", t0()).await.unwrap(),
        DeskTake::Gone
    );
}

async fn racing_takes_never_give_an_agent_more_than_their_capacity(store: &impl Store) {
    let (run, a, _) = ledger_fixture(store).await;
    store.upsert_agent("ann", &[], 2, t0()).await.unwrap();
    let batch: Vec<NewAttempt> = (0..8)
        .map(|i| {
            let mut x = new_attempt(run, a, &format!("call{i}"), Channel::Agent, t0());
            x.step_index = i;
            x
        })
        .collect();
    store.insert_attempts(&batch, t0()).await.unwrap();
    let claimed = store.claim_due(t0(), 10, "d1").await.unwrap();
    for (i, x) in claimed.iter().enumerate() {
        store
            .mark_sent(x.id, t0(), &format!("desk-{i}"))
            .await
            .unwrap();
    }
    let ids: Vec<i64> = claimed.iter().map(|x| x.id).collect();
    assert_eq!(ids.len(), 8);

    // Eight daemons each give ann a different waiting call at the same moment.
    let take = |i: usize| store.desk_take(ids[i], "ann", t0());
    let (r0, r1, r2, r3, r4, r5, r6, r7) = tokio::join!(
        take(0),
        take(1),
        take(2),
        take(3),
        take(4),
        take(5),
        take(6),
        take(7)
    );
    let results: Vec<DeskTake> = [r0, r1, r2, r3, r4, r5, r6, r7]
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let taken = results.iter().filter(|r| **r == DeskTake::Taken).count();
    assert_eq!(taken, 2, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, DeskTake::Taken | DeskTake::AtCapacity)),
        "{results:?}"
    );
    assert_eq!(store.desk_held_by("ann").await.unwrap().len(), 2);
    assert_eq!(store.desk_waiting(10).await.unwrap().len(), 6);
}

async fn a_rate_bucket_refills_with_time_and_never_backwards(store: &impl Store) {
    let ms = Duration::milliseconds;
    // A new bucket is full: a burst of its capacity, then one token every 1/rate.
    let first = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0())
        .await
        .unwrap();
    assert_eq!(first.granted, 4);
    assert_eq!(first.next_token_at, t0() + ms(250));
    let early = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(200))
        .await
        .unwrap();
    assert_eq!(early.granted, 0);
    assert_eq!(early.next_token_at, t0() + ms(250));
    let later = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(800))
        .await
        .unwrap();
    assert_eq!(later.granted, 3, "3.2 tokens refilled in 800 ms");
    assert_eq!(later.next_token_at, t0() + ms(1000));
    // A daemon whose clock is behind gets nothing, and moves no time back: the bucket
    // still refills from 800 ms.
    let behind = store
        .take_tokens("channel:sms", 4.0, 4.0, 10, t0() + ms(100))
        .await
        .unwrap();
    assert_eq!(behind.granted, 0);
    assert_eq!(behind.next_token_at, t0() + ms(1000));
    let after = store
        .take_tokens("channel:sms", 4.0, 4.0, 2, t0() + ms(1300))
        .await
        .unwrap();
    assert_eq!(after.granted, 2, "1.4 tokens, 2 whole ones after 1300 ms");
    // Each bucket is its own.
    let other = store
        .take_tokens("channel:voice_bot", 1.0 / 60.0, 1.0, 3, t0() + ms(100))
        .await
        .unwrap();
    assert_eq!(other.granted, 1);
    assert_eq!(other.next_token_at, t0() + ms(100) + Duration::minutes(1));
}

/// One daemon taking from a shared bucket: asks for 3 tokens every 100 ms for 5 seconds,
/// its clock `skew_ms` off. Returns what it got and its first and last moments.
async fn take_for_five_seconds(
    store: &impl Store,
    skew_ms: i64,
) -> (u32, DateTime<Utc>, DateTime<Utc>) {
    let at = |step: i64| t0() + Duration::milliseconds(step * 100 + skew_ms);
    let mut got = 0;
    for step in 0..50 {
        got += store
            .take_tokens("channel:sms", 20.0, 20.0, 3, at(step))
            .await
            .unwrap()
            .granted;
    }
    (got, at(0), at(49))
}

async fn concurrent_takers_share_one_rate_bucket(store: &impl Store) {
    // Four daemons at once, asking for six times the rate between them.
    let (a, b, c, d) = tokio::join!(
        take_for_five_seconds(store, 0),
        take_for_five_seconds(store, 3),
        take_for_five_seconds(store, 7),
        take_for_five_seconds(store, -5),
    );
    let takers = [a, b, c, d];
    let given: u32 = takers.iter().map(|t| t.0).sum();
    let first = takers.iter().map(|t| t.1).min().unwrap();
    let last = takers.iter().map(|t| t.2).max().unwrap();
    let seconds = (last - first).num_milliseconds() as f64 / 1000.0;
    // The burst, then the rate over the time the bucket was taken from.
    let most = 20.0 + 20.0 * seconds;
    assert!(
        f64::from(given) <= most + 1e-6,
        "{given} tokens given, at most {most}"
    );
    assert!(
        f64::from(given) >= most - 5.0,
        "{given} tokens given, nearly {most} expected: takers asking for more than the \
         rate get it all"
    );
}
