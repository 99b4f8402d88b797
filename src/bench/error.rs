//! What can stop a benchmark measurement: the database, the queue it is compared with, or
//! settings a measurement cannot honour.

/// A benchmark measurement that could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A statement failed; the text says what was being done and what the database said.
    #[error("database: {0}")]
    Database(String),
    /// The apalis queue the benchmark compares herald with failed.
    #[error("the apalis peer: {0}")]
    Queue(String),
    /// The apalis peer stopped making progress: `handled` of `tasks` after `waited`.
    #[error(
        "the apalis peer handled {handled} of {tasks} tasks in {waited:?} and was stopped; \
         the worker may have died (see the log) or the database is far slower than expected"
    )]
    PeerTimeout {
        handled: u64,
        tasks: u64,
        waited: std::time::Duration,
    },
    /// Settings this measurement cannot honour on this database.
    #[error("{0}")]
    Settings(String),
    /// The scratch files or databases could not be set up.
    #[error("setting up the bench: {0}")]
    Setup(String),
    /// herald itself failed during a phase.
    #[error("herald: {0}")]
    Herald(String),
    /// A phase finished with the wrong result (a contact not imported, an attempt not sent):
    /// no figure is given for a wrong answer.
    #[error("a wrong result, so no figure: {0}")]
    Wrong(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
