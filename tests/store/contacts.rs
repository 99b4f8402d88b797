//! Contacts: imports (counted upserts, many batches, a file failing part-way), columns a
//! file leaves out, audience pages, suppressions, tags in force, and a contact read back
//! whole.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use herald::domain::contact::{
    AttributeValue, Consent, Consents, Suppression, SuppressionKind, SuppressionTarget, Tag,
};
use herald::domain::values::{ChannelFamily, EmailAddress, PhoneNumber};
use herald::store::{NewContact, Present, Store};

use crate::{ALL, person, t0};

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

conformance!(
    upserts_count_new_changed_and_unchanged_rows,
    an_import_of_many_batches_reports_each_bad_row_by_line_and_writes_the_rest,
    an_import_whose_file_fails_midway_stops_with_the_error,
    absent_columns_keep_stored_values_and_attributes_merge,
    audience_pages_visit_each_member_once_in_id_order,
    suppressions_deduplicate_match_and_expire,
    tags_count_only_while_in_force,
    contacts_read_back_whole_by_id_with_tags_and_lists,
);
