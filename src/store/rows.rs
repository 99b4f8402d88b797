//! Reading herald's records from rows, once for both databases.
//!
//! The dialects store a few things differently (flags as 0/1 or `boolean`, small numbers as
//! `bigint` or `integer`, JSON as text or `jsonb`); [`Record`] hides that, so a contact,
//! an attempt, a run or a suppression is decoded by one function whatever the database.
//! The import merge and the outcome codes live here too: the same rules on both.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{Daemon, NewContact, Present, StoreError, UpsertCounts};
use crate::domain::contact::{
    AttributeValue, Consent, Consents, Contact, Suppression, SuppressionKind, SuppressionTarget,
};
use crate::domain::ledger::{Attempt, Run};
use crate::domain::outcome::Outcome;
use crate::domain::rate::Bucket;
use crate::domain::values::{ChannelFamily, EmailAddress, PhoneNumber, TimeZone};

/// A row of either database, read by column name.
pub(crate) trait Record {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
    /// A flag computed by SQL, NULL when every operand was NULL.
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError>;
    fn real(&self, col: &str) -> Result<f64, StoreError>;
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A JSON column (text holding JSON, or `jsonb`).
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError>;

    /// A column holding a value's text form (`sms`, `queued`...).
    fn parsed<T: FromStr<Err = String>>(&self, col: &str) -> Result<T, StoreError> {
        T::from_str(&self.text(col)?).map_err(|e| corrupt(col, e))
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn read<T>(col: &str, r: Result<T, sqlx::Error>) -> Result<T, StoreError> {
    r.map_err(|e| corrupt(col, e))
}

fn parse_json(col: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(col, e))
}

impl Record for SqliteRow {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        read(col, self.try_get(col))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        read(col, self.try_get(col))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        Ok(self.int(col)? != 0)
    }
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.opt_int(col)?.map(|v| v != 0))
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        read(col, self.try_get(col))
    }
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        read(col, self.try_get(col))
    }
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        parse_json(col, &self.text(col)?)
    }
}

impl Record for PgRow {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        read(col, self.try_get(col))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.try_get::<i64, _>(col)
            .or_else(|_| self.try_get::<i32, _>(col).map(i64::from))
            .map_err(|e| corrupt(col, e))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(col)
            .or_else(|_| {
                self.try_get::<Option<i32>, _>(col)
                    .map(|v| v.map(i64::from))
            })
            .map_err(|e| corrupt(col, e))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError> {
        read(col, self.try_get(col))
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        read(col, self.try_get(col))
    }
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        read(col, self.try_get(col))
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        read(col, self.try_get(col))
    }
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        match self.try_get::<sqlx::types::Json<serde_json::Value>, _>(col) {
            Ok(v) => Ok(v.0),
            // Queries may hand jsonb over as text (`col::text`).
            Err(_) => parse_json(col, &self.text(col)?),
        }
    }
}

/// A rate bucket's state (`tokens`, `updated_at`).
pub(crate) fn bucket(row: &impl Record) -> Result<Bucket, StoreError> {
    Ok(Bucket {
        tokens: row.real("tokens")?,
        at: row.time("updated_at")?,
    })
}

/// A contact (its tags are read apart).
pub(crate) fn contact(row: &impl Record) -> Result<Contact, StoreError> {
    let attributes = match row.json("attributes")? {
        serde_json::Value::Object(map) => map,
        other => return Err(corrupt("contact attributes", other)),
    };
    let consent = |col: &str| -> Result<Consent, StoreError> {
        Consent::parse(&row.text(col)?).map_err(|e| corrupt(col, e))
    };
    Ok(Contact {
        id: row.int("id")?,
        external_id: row.text("external_id")?,
        first_name: row.opt_text("first_name")?,
        last_name: row.opt_text("last_name")?,
        phone: row
            .opt_text("phone")?
            .map(PhoneNumber::try_from)
            .transpose()
            .map_err(|e| corrupt("phone", e))?,
        email: row
            .opt_text("email")?
            .map(EmailAddress::try_from)
            .transpose()
            .map_err(|e| corrupt("email", e))?,
        locale: row.opt_text("locale")?,
        timezone: row
            .opt_text("timezone")?
            .map(|t| TimeZone::parse(&t))
            .transpose()
            .map_err(|e| corrupt("timezone", e))?,
        attributes: attributes
            .iter()
            .filter_map(|(k, v)| AttributeValue::from_json(v).map(|v| (k.clone(), v)))
            .collect(),
        consent: Consents {
            sms: consent("consent_sms")?,
            email: consent("consent_email")?,
            call: consent("consent_call")?,
        },
        tags: Vec::new(),
    })
}

/// A do-not-contact entry, opt-out or bounce.
pub(crate) fn suppression(row: &impl Record) -> Result<Suppression, StoreError> {
    let value = row.text("value")?;
    let target = match row.text("target_kind")?.as_str() {
        "phone" => {
            SuppressionTarget::Phone(PhoneNumber::try_from(value).map_err(StoreError::Corrupt)?)
        }
        "email" => {
            SuppressionTarget::Email(EmailAddress::try_from(value).map_err(StoreError::Corrupt)?)
        }
        _ => SuppressionTarget::Contact(value),
    };
    let channel = match row.opt_text("channel")?.as_deref() {
        None => None,
        Some("sms") => Some(ChannelFamily::Sms),
        Some("email") => Some(ChannelFamily::Email),
        Some("call") => Some(ChannelFamily::Call),
        Some(other) => return Err(corrupt("suppression channel", other)),
    };
    Ok(Suppression {
        target,
        kind: SuppressionKind::parse(&row.text("kind")?).map_err(StoreError::Corrupt)?,
        channel,
        reason: row.text("reason")?,
        source: row.text("source")?,
        created_at: row.time("created_at")?,
        expires_at: row.opt_time("expires_at")?,
    })
}

/// An attempt of the ledger (the query joins its run for `campaign`).
pub(crate) fn attempt(row: &impl Record) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        id: row.int("id")?,
        run_id: row.int("run_id")?,
        campaign: row.text("campaign")?,
        contact_id: row.int("contact_id")?,
        step: row.text("step")?,
        step_index: row.int("step_index")? as usize,
        channel: row.parsed("channel")?,
        attempt_no: row.int("attempt_no")? as u32,
        not_before: row.time("not_before")?,
        state: row.parsed("state")?,
        idempotency_key: row.text("idempotency_key")?,
        obligation: row.opt_text("obligation")?,
        after_attempt: row.opt_int("after_attempt")?,
        condition: outcome_of(row.opt_text("condition")?)?,
        variant: row.opt_text("variant")?,
        prompt: row.opt_text("prompt")?,
        connected: row.flag("connected")?,
        sent_at: row.opt_time("sent_at")?,
        provider_ref: row.opt_text("provider_ref")?,
        outcome: outcome_of(row.opt_text("outcome")?)?,
        reason: row.opt_text("reason")?,
    })
}

/// A run.
pub(crate) fn run(row: &impl Record) -> Result<Run, StoreError> {
    Ok(Run {
        id: row.int("id")?,
        campaign: row.text("campaign")?,
        occurrence: row.time("occurrence")?,
        state: row.parsed("state")?,
        summary: row.json("summary")?,
        created_at: row.time("created_at")?,
        finished_at: row.opt_time("finished_at")?,
    })
}

/// An outcome stored by its code.
pub(crate) fn outcome_of(text: Option<String>) -> Result<Option<Outcome>, StoreError> {
    text.map(|t| {
        serde_json::from_value::<Outcome>(serde_json::Value::String(t.clone()))
            .map_err(|_| StoreError::Corrupt(format!("outcome `{t}`")))
    })
    .transpose()
}

/// Attributes as the JSON text both databases store.
pub(crate) fn attributes_json(attrs: &BTreeMap<String, AttributeValue>) -> String {
    serde_json::to_string(attrs).expect("attributes serialise")
}

/// The stored contact with the file's values laid over it: columns the file does not
/// carry keep their stored values, attributes merge key by key, id and tags stay.
pub(crate) fn merge(existing: Option<&Contact>, new: &Contact, present: Present) -> Contact {
    let Some(old) = existing else {
        return new.clone();
    };
    let pick = |is: bool, n: &Option<String>, o: &Option<String>| {
        if is { n.clone() } else { o.clone() }
    };
    let consent = |is: bool, n: Consent, o: Consent| if is { n } else { o };
    let mut attributes = old.attributes.clone();
    attributes.extend(new.attributes.clone());
    Contact {
        id: old.id,
        external_id: old.external_id.clone(),
        first_name: pick(present.first_name, &new.first_name, &old.first_name),
        last_name: pick(present.last_name, &new.last_name, &old.last_name),
        phone: if present.phone {
            new.phone.clone()
        } else {
            old.phone.clone()
        },
        email: if present.email {
            new.email.clone()
        } else {
            old.email.clone()
        },
        locale: pick(present.locale, &new.locale, &old.locale),
        // A zone inferred from a new phone number fills a gap, never replaces a known one.
        timezone: if present.timezone || old.timezone.is_none() {
            new.timezone.or(old.timezone)
        } else {
            old.timezone
        },
        attributes,
        consent: Consents {
            sms: consent(present.consent_sms, new.consent.sms, old.consent.sms),
            email: consent(present.consent_email, new.consent.email, old.consent.email),
            call: consent(present.consent_call, new.consent.call, old.consent.call),
        },
        tags: old.tags.clone(),
    }
}

/// What one import batch writes: each row merges over the contact as stored before the
/// batch; a later row of the same external id that changes it wins, one that leaves the
/// stored contact as it was writes nothing. New ids follow the order of first writes.
pub(crate) fn merge_batch(
    batch: &[NewContact],
    existing: &BTreeMap<String, Contact>,
    present: Present,
) -> (UpsertCounts, Vec<Contact>) {
    let mut counts = UpsertCounts::default();
    let mut writes: Vec<Contact> = Vec::new();
    let mut write_at: BTreeMap<&str, usize> = BTreeMap::new();
    for new in batch {
        let old = existing.get(&new.contact.external_id);
        let merged = merge(old, &new.contact, present);
        match old {
            Some(o) if *o == merged => {
                counts.unchanged += 1;
                continue;
            }
            Some(_) => counts.updated += 1,
            None => counts.inserted += 1,
        }
        match write_at.get(new.contact.external_id.as_str()) {
            Some(&i) => writes[i] = merged,
            None => {
                write_at.insert(&new.contact.external_id, writes.len());
                writes.push(merged);
            }
        }
    }
    (counts, writes)
}

/// A daemon row (`daemons_list`).
pub(crate) fn daemon(r: &impl Record) -> Result<Daemon, StoreError> {
    Ok(Daemon {
        id: r.text("id")?,
        host: r.text("host")?,
        pid: r.int("pid")?,
        started_at: r.time("started_at")?,
        seen_at: r.time("seen_at")?,
    })
}
