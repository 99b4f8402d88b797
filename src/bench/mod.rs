//! `herald bench`: herald's throughput against what its database can do at best.

mod error;
pub mod peer;
pub mod raw;

pub use error::BenchError;
