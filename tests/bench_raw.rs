//! The benchmark's raw limits and apalis peer, on a fresh SQLite file always and on a fresh
//! PostgreSQL database when `HERALD_TEST_POSTGRES_URL` is set: each measures what it says
//! and leaves the database as it should.

use herald::bench::{BenchError, peer, raw};
use herald::store::{AnyStore, PgStore, SqliteStore, Store};

const ROWS: u64 = 2_000;

async fn sqlite() -> (tempfile::TempDir, AnyStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        true,
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (dir, AnyStore::Sqlite(store))
}

async fn postgres() -> Option<AnyStore> {
    let Some(url) = herald::store::postgres::fresh_test_database().await else {
        eprintln!("HERALD_TEST_POSTGRES_URL is not set: skipped on PostgreSQL");
        return None;
    };
    let store = PgStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    Some(AnyStore::Postgres(store))
}

/// (rows, distinct keys, rows in `state`) of the scratch table.
async fn scratch_counts(store: &AnyStore, state: &str) -> (i64, i64, i64) {
    let sql = "SELECT COUNT(*), COUNT(DISTINCT idempotency_key), \
               COALESCE(SUM(CASE WHEN state = 'STATE' THEN 1 ELSE 0 END), 0) \
               FROM bench_raw_attempts";
    let sql = sqlx::AssertSqlSafe(sql.replace("STATE", state));
    match store {
        AnyStore::Sqlite(s) => sqlx::query_as(sql).fetch_one(s.pool()).await.unwrap(),
        AnyStore::Postgres(s) => sqlx::query_as(sql).fetch_one(s.pool()).await.unwrap(),
    }
}

/// Tasks and workers of the peer's queue left in apalis's tables.
async fn peer_rows(store: &AnyStore) -> (i64, i64) {
    match store {
        AnyStore::Sqlite(s) => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM Jobs WHERE job_type = 'herald.bench.peer'), \
                    (SELECT COUNT(*) FROM Workers WHERE worker_type = 'herald.bench.peer')",
        )
        .fetch_one(s.pool())
        .await
        .unwrap(),
        AnyStore::Postgres(s) => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'herald.bench.peer'), \
                    (SELECT COUNT(*) FROM apalis.workers WHERE worker_type = 'herald.bench.peer')",
        )
        .fetch_one(s.pool())
        .await
        .unwrap(),
    }
}

async fn bulk_insert_writes_every_row_queued_with_its_own_key(store: &AnyStore) {
    raw::bulk_insert(store, ROWS).await.unwrap();
    assert_eq!(scratch_counts(store, "queued").await, (2_000, 2_000, 2_000));

    // A second insert starts again from an empty table.
    raw::bulk_insert(store, 700).await.unwrap();
    assert_eq!(scratch_counts(store, "queued").await, (700, 700, 700));

    raw::drop_scratch(store).await.unwrap();
    raw::drop_scratch(store).await.unwrap();
}

async fn claim_and_complete_drains_every_row_and_can_run_again(store: &AnyStore, workers: usize) {
    raw::bulk_insert(store, ROWS).await.unwrap();

    raw::claim_and_complete(store, workers, 100).await.unwrap();
    assert_eq!(scratch_counts(store, "done").await, (2_000, 2_000, 2_000));

    // The second run resets the rows first, so it drains them all again.
    raw::claim_and_complete(store, workers, 64).await.unwrap();
    assert_eq!(scratch_counts(store, "done").await, (2_000, 2_000, 2_000));
    raw::drop_scratch(store).await.unwrap();
}

async fn the_apalis_peer_handles_every_task_once_and_leaves_nothing(store: &AnyStore) {
    let run = peer::apalis_one_task_per_attempt(store, 500).await.unwrap();
    assert!(run.push > std::time::Duration::ZERO && run.process > std::time::Duration::ZERO);
    assert_eq!(peer_rows(store).await, (0, 0));

    // Runs repeat from a clean queue.
    peer::apalis_one_task_per_attempt(store, 500).await.unwrap();
    assert_eq!(peer_rows(store).await, (0, 0));
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn bulk_insert_writes_every_row_queued_with_its_own_key() {
        let (_dir, store) = sqlite().await;
        super::bulk_insert_writes_every_row_queued_with_its_own_key(&store).await;
    }

    #[tokio::test]
    async fn claim_and_complete_drains_every_row_and_can_run_again() {
        let (_dir, store) = sqlite().await;
        super::claim_and_complete_drains_every_row_and_can_run_again(&store, 1).await;
    }

    #[tokio::test]
    async fn claim_and_complete_refuses_more_than_one_worker() {
        let (_dir, store) = sqlite().await;
        raw::bulk_insert(&store, 10).await.unwrap();
        let refused = raw::claim_and_complete(&store, 4, 100).await.unwrap_err();
        assert!(
            matches!(&refused, BenchError::Settings(m) if m.contains("SQLite has one writer")),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn claim_and_complete_without_a_scratch_table_says_what_to_run() {
        let (_dir, store) = sqlite().await;
        let failed = raw::claim_and_complete(&store, 1, 100).await.unwrap_err();
        assert!(
            failed.to_string().contains("run bulk_insert first"),
            "{failed}"
        );
    }

    #[tokio::test]
    async fn the_apalis_peer_handles_every_task_once_and_leaves_nothing() {
        let (_dir, store) = sqlite().await;
        super::the_apalis_peer_handles_every_task_once_and_leaves_nothing(&store).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn bulk_insert_writes_every_row_queued_with_its_own_key() {
        let Some(store) = postgres().await else {
            return;
        };
        super::bulk_insert_writes_every_row_queued_with_its_own_key(&store).await;
    }

    #[tokio::test]
    async fn claim_and_complete_drains_every_row_and_can_run_again_with_one_worker() {
        let Some(store) = postgres().await else {
            return;
        };
        super::claim_and_complete_drains_every_row_and_can_run_again(&store, 1).await;
    }

    #[tokio::test]
    async fn claim_and_complete_drains_every_row_and_can_run_again_with_four_workers() {
        let Some(store) = postgres().await else {
            return;
        };
        super::claim_and_complete_drains_every_row_and_can_run_again(&store, 4).await;
    }

    #[tokio::test]
    async fn claim_and_complete_refuses_more_workers_than_the_pool_holds() {
        let Some(store) = postgres().await else {
            return;
        };
        raw::bulk_insert(&store, 10).await.unwrap();
        let refused = raw::claim_and_complete(&store, 8, 100).await.unwrap_err();
        assert!(matches!(refused, BenchError::Settings(_)), "{refused}");
    }

    #[tokio::test]
    async fn the_apalis_peer_handles_every_task_once_and_leaves_nothing() {
        let Some(store) = postgres().await else {
            return;
        };
        super::the_apalis_peer_handles_every_task_once_and_leaves_nothing(&store).await;
    }
}
