//! The store conformance suite: one set of behaviours every `Store` must have, run on a
//! fresh SQLite file per test and on a fresh PostgreSQL database per test (on the server
//! `HERALD_TEST_POSTGRES_URL` names; CI always sets it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald::domain::contact::{
    AttributeValue, Consent, Consents, Contact, Suppression, SuppressionKind, SuppressionTarget,
    Tag,
};
use herald::domain::values::{ChannelFamily, EmailAddress, PhoneNumber};
use herald::store::{NewContact, Present, SqliteStore, Store};

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
    absent_columns_keep_stored_values_and_attributes_merge,
    audience_pages_visit_each_member_once_in_id_order,
    suppressions_deduplicate_match_and_expire,
    tags_count_only_while_in_force,
);
