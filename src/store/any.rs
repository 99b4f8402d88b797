//! The store a URL selects: SQLite (`sqlite://PATH`, the embedded default) or PostgreSQL
//! (`postgres://...`). Commands hold an `AnyStore`; the engine is generic over `Store`.

use super::*;

#[derive(Clone, Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the database at `url` (with `create`, a missing SQLite file is created).
    pub async fn open(url: &str, create: bool) -> Result<AnyStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open(url).await?))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open(url, create).await?))
        }
    }

    /// Opens an existing database for long reads (exports).
    pub async fn open_reader(url: &str) -> Result<AnyStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open_reader(url).await?))
        } else {
            Ok(AnyStore::Sqlite(SqliteStore::open_reader(url).await?))
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.pool.close().await,
            AnyStore::Postgres(s) => s.pool.close().await,
        }
    }

    /// (migrations applied, migrations this build has) for the database's dialect.
    pub async fn migration_counts(&self) -> (i64, usize) {
        match self {
            AnyStore::Sqlite(s) => (
                super::sqlite::applied_count(&s.pool).await,
                super::sqlite::migrator().iter().count(),
            ),
            AnyStore::Postgres(s) => (
                super::postgres::applied_count(&s.pool).await,
                super::postgres::migrator().iter().count(),
            ),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }

    /// Whether the database has one writer at a time (SQLite): work that writes gains
    /// nothing from more than one worker there.
    pub fn single_writer(&self) -> bool {
        matches!(self, AnyStore::Sqlite(_))
    }

    /// Every migration this build has for the database's dialect, with when it was applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.migration_status().await,
            AnyStore::Postgres(s) => s.migration_status().await,
        }
    }

    /// The database engine's version.
    pub async fn server_version(&self) -> Result<ServerVersion, StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.server_version().await,
            AnyStore::Postgres(s) => s.server_version().await,
        }
    }

    /// Whether the server has the `hstore` extension the daemon's queue needs on
    /// PostgreSQL (apalis's jobs table uses it); `None` on SQLite, where it needs none.
    pub async fn queue_extension(&self) -> Result<Option<ExtensionStatus>, StoreError> {
        match self {
            AnyStore::Sqlite(_) => Ok(None),
            AnyStore::Postgres(s) => s.extension_status("hstore").await.map(Some),
        }
    }

    /// Writes a consistent copy of the database to a new SQLite file at `path` (a
    /// simulation's copy). Only an embedded SQLite database can be copied so.
    pub async fn snapshot_to_sqlite(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(s) => s.snapshot_into(path).await,
            AnyStore::Postgres(_) => Err(StoreError::Unsupported(
                "a copy for a simulation is made of an embedded SQLite database; on PostgreSQL \
                 it is not available yet",
            )),
        }
    }

    /// The connections the queue keeps its own tables with, beside herald's (apalis
    /// needs the pool itself): the one way a pool leaves the store.
    pub fn queue_pool(&self) -> QueuePool {
        match self {
            AnyStore::Sqlite(s) => QueuePool::Sqlite(s.pool.clone()),
            AnyStore::Postgres(s) => QueuePool::Postgres(s.pool.clone()),
        }
    }
}

/// A pool of herald's database handed to the queue (see [`AnyStore::queue_pool`]).
#[derive(Clone, Debug)]
pub enum QueuePool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}
