//! The store conformance suite: one set of behaviours every `Store` must have, run on a
//! fresh SQLite file per test and on a fresh PostgreSQL database per test (on the server
//! `HERALD_TEST_POSTGRES_URL` names; CI always sets it).
//!
//! Each topic is a module holding its behaviours and the `conformance!` list that runs
//! them; the fixtures more than one topic uses, the store openers and the macro live here.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use herald::domain::contact::{AttributeValue, Consent, Consents, Contact};
use herald::domain::ledger::NewAttempt;
use herald::domain::lifecycle::RunState;
use herald::domain::values::{Channel, EmailAddress, PhoneNumber};
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
        .create_run("c1", version, t0(), RunState::Running, t0())
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

/// A migrated store on a fresh SQLite file; the directory is removed when the test drops it.
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

/// The behaviours it names, each on a migrated store in a fresh SQLite file.
macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = crate::sqlite().await;
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

/// The behaviours it names, on every store: each topic module lists its own once.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        on_sqlite!($($name),*);
        on_postgres!($($name),*);
    };
}

mod campaigns;
mod contacts;
mod desk;
mod inbox;
mod ledger;
mod readouts;
