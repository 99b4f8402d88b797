//! The raw limits `herald bench` compares herald with: the database's own best at writing
//! and draining rows shaped like herald's attempts, measured on a scratch table by the store
//! (see `store::scratch`). This module checks the settings a measurement can honour and
//! says, in the benchmark's terms, why one could not be taken.

use std::time::Duration;

use super::error::BenchError;
use crate::store::AnyStore;
use crate::store::scratch::{self, ScratchError};

impl From<ScratchError> for BenchError {
    fn from(e: ScratchError) -> BenchError {
        match e {
            ScratchError::Database(m) => BenchError::Database(m),
            ScratchError::Settings(m) => BenchError::Settings(m),
        }
    }
}

/// (Re)creates the scratch table and times writing `rows` queued rows into it with the
/// database's fastest plain method (see [`scratch::bulk_insert`]).
pub async fn bulk_insert(store: &AnyStore, rows: u64) -> Result<Duration, BenchError> {
    Ok(scratch::bulk_insert(store, rows).await?)
}

/// Times `workers` workers draining the scratch table as a dispatcher would at best,
/// claiming `batch` rows at a time (see [`scratch::claim_and_complete`]).
pub async fn claim_and_complete(
    store: &AnyStore,
    workers: usize,
    batch: i64,
) -> Result<Duration, BenchError> {
    Ok(scratch::claim_and_complete(store, workers, batch).await?)
}

/// Drops the scratch table, if there is one.
pub async fn drop_scratch(store: &AnyStore) -> Result<(), BenchError> {
    Ok(scratch::drop_scratch(store).await?)
}
