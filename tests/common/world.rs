//! The engine over virtual time in a scratch folder: a real SQLite file (or a fresh
//! PostgreSQL database, with `world_on(Db::Postgres, ...)`), the example templates, one
//! test campaign, contacts imported into list `people`, the simulated provider. No
//! sleeps: the virtual clock jumps to the next due moment.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use herald::catalog::{Catalog, Known};
use herald::clock::{Clock, VirtualClock};
use herald::config::{Overrides, Settings};
use herald::engine::{Engine, Scope};
use herald::import::{ContactImport, import_contacts};
use herald::store::{AnyStore, Store};

pub struct World {
    pub dir: tempfile::TempDir,
    pub engine: Engine<AnyStore>,
    pub clock: VirtualClock,
}

/// Monday 2026-11-30, 08:00 UTC (London is on GMT).
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap()
}

pub async fn world(campaign: &str, sim: &str, contacts: &str) -> World {
    world_with(&[("test", campaign)], sim, contacts).await
}

/// Which database a world keeps its data in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    /// A fresh database on the server `HERALD_TEST_POSTGRES_URL` names.
    Postgres,
}

/// Runs an async test body once per database: `on_both!(name, body)` makes the tests
/// `name::sqlite` and `name::postgres` (which says so and passes when
/// `HERALD_TEST_POSTGRES_URL` is not set).
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body(super::common::world::Db::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$body(super::common::world::Db::Postgres).await;
            }
        }
    };
}

/// A world with several campaigns (`jobs/NAME.toml`).
pub async fn world_with(campaigns: &[(&str, &str)], sim: &str, contacts: &str) -> World {
    world_on(Db::Sqlite, campaigns, sim, contacts)
        .await
        .expect("SQLite is always there")
}

/// A world on the given database; `None` for PostgreSQL when no server is configured.
pub async fn world_on(
    db: Db,
    campaigns: &[(&str, &str)],
    sim: &str,
    contacts: &str,
) -> Option<World> {
    build(db, campaigns, sim, "", false, contacts).await
}

/// A world on SQLite whose herald.toml ends with `config` (providers, say), with the
/// providers it configures (`Engine::configured`) rather than the simulator everywhere.
pub async fn world_configured(campaigns: &[(&str, &str)], config: &str, contacts: &str) -> World {
    world_configured_on(Db::Sqlite, campaigns, config, contacts)
        .await
        .expect("SQLite is always there")
}

/// [`world_configured`] on the given database; `None` for PostgreSQL when no server is
/// configured.
pub async fn world_configured_on(
    db: Db,
    campaigns: &[(&str, &str)],
    config: &str,
    contacts: &str,
) -> Option<World> {
    build(db, campaigns, "", config, true, contacts).await
}

async fn build(
    db: Db,
    campaigns: &[(&str, &str)],
    sim: &str,
    extra_config: &str,
    configured: bool,
    contacts: &str,
) -> Option<World> {
    let database_url = match db {
        Db::Sqlite => None,
        Db::Postgres => match herald::store::postgres::fresh_test_database().await {
            Some(url) => Some(url),
            None => {
                eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped on PostgreSQL");
                return None;
            }
        },
    };
    let dir = tempfile::tempdir().unwrap();
    herald::examples::write_all(dir.path(), true).unwrap();
    let config = std::fs::read_to_string(dir.path().join("herald.toml")).unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        format!("{config}\n{extra_config}\n[sim]\n{sim}\n"),
    )
    .unwrap();
    for (path, _) in herald::examples::FILES {
        if path.starts_with("jobs/") {
            std::fs::remove_file(dir.path().join(path)).unwrap();
        }
    }
    for (name, campaign) in campaigns {
        std::fs::write(dir.path().join(format!("jobs/{name}.toml")), campaign).unwrap();
    }
    if let Some(url) = &database_url {
        let config = std::fs::read_to_string(dir.path().join("herald.toml")).unwrap();
        let pointed = config.replace(
            "database_url = \"sqlite://herald.db\"",
            &format!("database_url = \"{url}\""),
        );
        assert_ne!(pointed, config, "the example config names its database");
        std::fs::write(dir.path().join("herald.toml"), pointed).unwrap();
    }
    let settings = Settings::load(&Overrides {
        config: Some(dir.path().join("herald.toml")),
        database_url: None,
    })
    .unwrap();
    let store = AnyStore::open(&settings.database_url, true).await.unwrap();
    store.migrate().await.unwrap();
    let options = ContactImport {
        list: Some("people".into()),
        default_region: Some("GB".into()),
        attributes: settings.attributes.clone(),
    };
    let report = import_contacts(
        &store,
        std::io::Cursor::new(contacts.to_string()),
        &options,
        monday(),
        |e| panic!("bad row {e:?}"),
        |_| {},
    )
    .await
    .unwrap();
    assert!(report.written.inserted > 0);
    let known = Known {
        attributes: store.attribute_keys().await.unwrap(),
        tags: store.tag_names().await.unwrap(),
    };
    let catalog = Catalog::load(std::slice::from_ref(&settings.jobs_dir), &settings, &known);
    assert_eq!(catalog.errors(), 0, "{:#?}", catalog.diagnostics);
    let clock = VirtualClock::new(monday());
    let clock_handle: Arc<dyn Clock> = Arc::new(clock.clone());
    let engine = if configured {
        Engine::configured(store, catalog, settings, clock_handle, Scope::All).unwrap()
    } else {
        Engine::simulated(store, catalog, settings, clock_handle, Scope::All)
    };
    Some(World { dir, engine, clock })
}

impl World {
    /// Runs what falls due over the next `d`, and ends with the clock `d` later.
    pub async fn run_for(&self, d: Duration) {
        let until = self.clock.now() + d;
        self.engine.simulate(&self.clock, until).await.unwrap();
        if self.clock.now() < until {
            self.clock.set(until);
        }
    }

    /// A contact by external id (it must exist).
    pub async fn contact(&self, external_id: &str) -> herald::domain::contact::Contact {
        self.engine
            .store
            .contact(external_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// The world's settings and campaigns, loaded again as a command would.
    pub async fn catalog(&self) -> (Settings, Catalog) {
        let settings = Settings::load(&Overrides {
            config: Some(self.dir.path().join("herald.toml")),
            database_url: None,
        })
        .unwrap();
        let known = Known {
            attributes: self.engine.store.attribute_keys().await.unwrap(),
            tags: self.engine.store.tag_names().await.unwrap(),
        };
        let catalog = Catalog::load(std::slice::from_ref(&settings.jobs_dir), &settings, &known);
        (settings, catalog)
    }

    pub async fn attempts(&self, external_id: &str) -> Vec<herald::domain::ledger::Attempt> {
        let c = self.contact(external_id).await;
        let mut all = Vec::new();
        for run in self.engine.store.runs(None, 100).await.unwrap() {
            all.extend(
                self.engine
                    .store
                    .attempts_of_contact_in_run(run.id, c.id)
                    .await
                    .unwrap(),
            );
        }
        all.sort_by_key(|a| a.id);
        all
    }
}
