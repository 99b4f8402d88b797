//! `herald migrate copy`: moves an embedded SQLite installation to PostgreSQL with its
//! whole history (contacts, lists, tags, suppressions, campaign versions and states, runs,
//! the attempt ledger, events, the inbox, agents and survey answers), ids kept, so every
//! idempotency key, reference and export stays what it was. The channels' rate buckets
//! are not copied: they only pace live sending, and a bucket that is not there starts full.
//!
//! Each table is read in id order in pages and written with one multi-row `UNNEST` insert
//! per page, all in one PostgreSQL transaction: the copy is complete or absent. The
//! target must be migrated and empty.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::{Doing, StoreError};

/// Rows read and written per statement.
const PAGE: i64 = 5_000;

/// How a column travels.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Time,
    /// Text in SQLite, `jsonb` in PostgreSQL.
    Json,
    /// 0/1 in SQLite, `boolean` in PostgreSQL.
    Bool,
}

/// A table to copy: its name, its columns (the first is its key for paging; tables
/// without an id page by their primary key's first column and rowid), and whether its
/// `id` is an identity whose sequence must be moved past the copied ids.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    identity: bool,
}

use Kind::*;

/// In dependency order: a row's references are copied before it.
const TABLES: &[Table] = &[
    Table {
        name: "contacts",
        columns: &[
            ("id", Int),
            ("external_id", Text),
            ("first_name", Text),
            ("last_name", Text),
            ("phone", Text),
            ("email", Text),
            ("locale", Text),
            ("timezone", Text),
            ("attributes", Json),
            ("consent_sms", Text),
            ("consent_email", Text),
            ("consent_call", Text),
            ("created_at", Time),
            ("updated_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "contact_lists",
        columns: &[("id", Int), ("name", Text), ("created_at", Time)],
        identity: true,
    },
    Table {
        name: "list_members",
        columns: &[("list_id", Int), ("contact_id", Int), ("added_at", Time)],
        identity: false,
    },
    Table {
        name: "contact_tags",
        columns: &[
            ("contact_id", Int),
            ("tag", Text),
            ("source", Text),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        identity: false,
    },
    Table {
        name: "suppressions",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("target_kind", Text),
            ("value", Text),
            ("channel", Text),
            ("reason", Text),
            ("source", Text),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "campaign_versions",
        columns: &[
            ("id", Int),
            ("campaign", Text),
            ("hash", Text),
            ("source", Text),
            ("created_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "campaigns",
        columns: &[("id", Text), ("state", Text), ("updated_at", Time)],
        identity: false,
    },
    Table {
        name: "runs",
        columns: &[
            ("id", Int),
            ("campaign", Text),
            ("version_id", Int),
            ("occurrence", Time),
            ("state", Text),
            ("summary", Json),
            ("created_at", Time),
            ("finished_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "attempts",
        columns: &[
            ("id", Int),
            ("run_id", Int),
            ("contact_id", Int),
            ("step", Text),
            ("step_index", Int),
            ("channel", Text),
            ("attempt_no", Int),
            ("not_before", Time),
            ("state", Text),
            ("idempotency_key", Text),
            ("obligation", Text),
            ("after_attempt", Int),
            ("condition", Text),
            ("connected", Bool),
            ("claimed_at", Time),
            ("sent_at", Time),
            ("provider_ref", Text),
            ("outcome", Text),
            ("reason", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("held_by", Text),
            ("held_at", Time),
            ("variant", Text),
            ("prompt", Text),
        ],
        identity: true,
    },
    Table {
        name: "events",
        columns: &[
            ("id", Int),
            ("attempt_id", Int),
            ("kind", Text),
            ("detail", Text),
            ("payload", Json),
            ("occurred_at", Time),
            ("recorded_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "inbox",
        columns: &[
            ("id", Int),
            ("provider", Text),
            ("event_key", Text),
            ("idempotency_key", Text),
            ("kind", Text),
            ("payload", Json),
            ("due_at", Time),
            ("received_at", Time),
            ("applied_at", Time),
        ],
        identity: true,
    },
    Table {
        name: "agents",
        columns: &[
            ("name", Text),
            ("skills", Json),
            ("capacity", Int),
            ("created_at", Time),
        ],
        identity: false,
    },
    Table {
        name: "responses",
        columns: &[
            ("id", Int),
            ("run_id", Int),
            ("campaign", Text),
            ("contact_id", Int),
            ("attempt_id", Int),
            ("question", Text),
            ("kind", Text),
            ("score", Int),
            ("answer", Text),
            ("raw", Text),
            ("channel", Text),
            ("variant", Text),
            ("revision", Int),
            ("first_answered_at", Time),
            ("answered_at", Time),
        ],
        identity: true,
    },
];

/// Rows copied per table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// One page of one table, column by column.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Bool(Vec<Option<bool>>),
}

/// Copies every table of the SQLite database `from` into the migrated, empty PostgreSQL
/// database `to`, in one transaction. `progress` hears each table's name and row count.
pub async fn sqlite_to_postgres(
    from: &super::SqliteStore,
    to: &super::PgStore,
    mut progress: impl FnMut(&str, u64),
) -> Result<CopyReport, CopyError> {
    let (from, to) = (&from.pool, &to.pool);
    for t in ["contacts", "runs", "attempts"] {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(to)
            .await
            .doing("checking the target is empty")?;
        if n > 0 {
            return Err(CopyError::TargetNotEmpty(t));
        }
    }
    let mut tx = to.begin().await.doing("starting the copy transaction")?;
    let mut report = CopyReport::default();
    for table in TABLES {
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        // Pages by rowid (tables declared WITHOUT ROWID page by their key and offset).
        let without_rowid = matches!(table.name, "list_members" | "contact_tags");
        let select = if without_rowid {
            format!(
                "SELECT {}, 0 AS _k FROM {} ORDER BY 1, 2 LIMIT ?1 OFFSET ?2",
                names.join(", "),
                table.name
            )
        } else {
            format!(
                "SELECT {}, rowid AS _k FROM {} WHERE rowid > ?2 ORDER BY rowid LIMIT ?1",
                names.join(", "),
                table.name
            )
        };
        let casts: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| {
                let array = match kind {
                    Int => "bigint[]",
                    Text | Json => "text[]",
                    Time => "timestamptz[]",
                    Bool => "boolean[]",
                };
                format!("${}::{array}", i + 1)
            })
            .collect();
        let values: Vec<String> = table
            .columns
            .iter()
            .map(|(name, kind)| match kind {
                Json => format!("{name}::jsonb"),
                _ => name.to_string(),
            })
            .collect();
        let overriding = if table.identity {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        let insert = format!(
            "INSERT INTO {table} ({cols}){overriding} SELECT {values} FROM UNNEST({casts}) AS t ({cols})",
            table = table.name,
            cols = names.join(", "),
            values = values.join(", "),
            casts = casts.join(", "),
        );
        let mut copied = 0u64;
        let mut after: i64 = 0;
        loop {
            let position = if without_rowid { copied as i64 } else { after };
            let rows = sqlx::query(AssertSqlSafe(select.clone()))
                .bind(PAGE)
                .bind(position)
                .fetch_all(from)
                .await
                .doing("reading the SQLite database")?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("_k").doing("reading a row id")?;
            let mut columns: Vec<Column> = table
                .columns
                .iter()
                .map(|(_, kind)| match kind {
                    Int => Column::Int(Vec::with_capacity(rows.len())),
                    Text | Json => Column::Text(Vec::with_capacity(rows.len())),
                    Time => Column::Time(Vec::with_capacity(rows.len())),
                    Bool => Column::Bool(Vec::with_capacity(rows.len())),
                })
                .collect();
            for row in &rows {
                for (i, column) in columns.iter_mut().enumerate() {
                    match column {
                        Column::Int(v) => v.push(row.try_get(i).doing("reading a number")?),
                        Column::Text(v) => v.push(row.try_get(i).doing("reading a text")?),
                        Column::Time(v) => v.push(row.try_get(i).doing("reading a time")?),
                        Column::Bool(v) => v.push(
                            row.try_get::<Option<i64>, _>(i)
                                .doing("reading a flag")?
                                .map(|b| b != 0),
                        ),
                    }
                }
            }
            let mut query = sqlx::query(AssertSqlSafe(insert.clone()));
            for column in columns {
                query = match column {
                    Column::Int(v) => query.bind(v),
                    Column::Text(v) => query.bind(v),
                    Column::Time(v) => query.bind(v),
                    Column::Bool(v) => query.bind(v),
                };
            }
            query
                .execute(&mut *tx)
                .await
                .doing("writing to PostgreSQL")?;
            copied += rows.len() as u64;
        }
        if table.identity {
            // New rows continue after the copied ids.
            sqlx::query(AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)",
                t = table.name
            )))
            .execute(&mut *tx)
            .await
            .doing("moving an id sequence past the copied rows")?;
        }
        progress(table.name, copied);
        report.tables.push((table.name.to_string(), copied));
    }
    tx.commit().await.doing("committing the copy")?;
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the target database already holds {0}: `migrate copy` fills an empty, migrated database only"
    )]
    TargetNotEmpty(&'static str),
}
