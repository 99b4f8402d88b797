//! The columns of each export: names, types, nullability and meaning.
//!
//! These lists are the contract: once shipped, a column keeps its name and type (new
//! columns go at the end). Each table's SQL (`store/queries/*/export_TABLE.sql`) selects
//! exactly these names in this order, and `docs/exports.md` documents them; tests hold
//! both to these lists.

use super::{Column, ColumnType, Pii};

const fn col(name: &'static str, ty: ColumnType, meaning: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        pii: None,
        meaning,
    }
}

const fn opt(name: &'static str, ty: ColumnType, meaning: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        pii: None,
        meaning,
    }
}

const fn pii(name: &'static str, kind: Pii, meaning: &'static str) -> Column {
    Column {
        name,
        ty: ColumnType::Text,
        nullable: true,
        pii: Some(kind),
        meaning,
    }
}

use ColumnType::{Bool, Int32, Int64, Text, Time};

pub const ATTEMPTS: &[Column] = &[
    col("attempt_id", Int64, "the attempt's id"),
    col("run_id", Int64, "the run it belongs to"),
    col("campaign", Text, "the campaign of the run"),
    col("contact_id", Int64, "herald's id of the contact"),
    col("external_id", Text, "the contact's id in the CRM"),
    col("step", Text, "the sequence step"),
    col("channel", Text, "sms, email, call or agent"),
    col(
        "attempt_no",
        Int32,
        "1 for the first try of a step, then 2, 3...",
    ),
    opt("variant", Text, "the A/B variant (`holdout` when held out)"),
    opt(
        "prompt",
        Text,
        "a survey follow-up (`ask:QUESTION`, `clarify:QUESTION`); null for the step's own message",
    ),
    col(
        "state",
        Text,
        "queued, sending, sent, done, skipped or cancelled",
    ),
    opt(
        "outcome",
        Text,
        "the disposition (answered, promise_to_pay...)",
    ),
    opt(
        "reason",
        Text,
        "why it was skipped, cancelled or rescheduled",
    ),
    col("connected", Bool, "whether it reached the person"),
    col("not_before", Time, "the earliest moment it may be sent"),
    opt("sent_at", Time, "when it was sent"),
    col(
        "idempotency_key",
        Text,
        "the key the provider sees, unique per attempt",
    ),
    opt(
        "provider_ref",
        Text,
        "the provider's id for the message or call",
    ),
    col("created_at", Time, "when it was planned"),
    col("updated_at", Time, "its last change"),
];

pub const EVENTS: &[Column] = &[
    col("event_id", Int64, "the event's id"),
    col("attempt_id", Int64, "the attempt it happened to"),
    col("run_id", Int64, "the attempt's run"),
    col("campaign", Text, "the campaign of the run"),
    col("contact_id", Int64, "herald's id of the contact"),
    col("external_id", Text, "the contact's id in the CRM"),
    col("step", Text, "the attempt's step"),
    col("channel", Text, "the attempt's channel"),
    col(
        "kind",
        Text,
        "an outcome (delivered, replied, answered...), skipped, send_failed or unreachable",
    ),
    opt(
        "detail",
        Text,
        "the reason, or a reply's text (free text, never masked)",
    ),
    col(
        "payload",
        Text,
        "JSON text: what the provider or the person sent; `null` when nothing",
    ),
    col("occurred_at", Time, "when it happened"),
    col("recorded_at", Time, "when herald recorded it"),
];

pub const RESPONSES: &[Column] = &[
    col("response_id", Int64, "the response's id"),
    col("run_id", Int64, "the run that asked"),
    col("attempt_id", Int64, "the attempt that carried the question"),
    col("campaign", Text, "the survey's campaign"),
    col("contact_id", Int64, "herald's id of the contact"),
    col("external_id", Text, "the contact's id in the CRM"),
    col("question", Text, "the question's id"),
    col("kind", Text, "nps, csat, choice or text"),
    opt(
        "score",
        Int32,
        "NPS 0-10 or CSAT 1-5; null for choice and text",
    ),
    col(
        "answer",
        Text,
        "the normalised answer: the score, the choice or the text",
    ),
    col(
        "raw",
        Text,
        "what the person sent, as sent (free text, never masked)",
    ),
    col("channel", Text, "the channel the answer came through"),
    opt("variant", Text, "the A/B variant of the asking attempt"),
    col(
        "revision",
        Int32,
        "how many answers were given (the last one counts)",
    ),
    col("first_answered_at", Time, "when the first answer came"),
    col("answered_at", Time, "when the current answer came"),
];

pub const CONTACTS: &[Column] = &[
    col("contact_id", Int64, "herald's id of the contact"),
    col("external_id", Text, "the contact's id in the CRM"),
    pii("first_name", Pii::Name, "first name"),
    pii("last_name", Pii::Name, "last name"),
    pii("phone", Pii::Phone, "phone number, E.164"),
    pii("email", Pii::Email, "e-mail address"),
    opt("locale", Text, "language and region (`en-GB`)"),
    opt("timezone", Text, "IANA time zone (`Europe/London`)"),
    col("consent_sms", Text, "granted, denied or unknown"),
    col("consent_email", Text, "granted, denied or unknown"),
    col("consent_call", Text, "granted, denied or unknown"),
    col(
        "attributes",
        Text,
        "JSON text: the free attributes (balance, plan...), never masked",
    ),
    col(
        "tags",
        Text,
        "JSON text: array of the tag names in force at export time, sorted",
    ),
    col("created_at", Time, "when herald first imported the contact"),
    col("updated_at", Time, "the contact's last change"),
];

pub const TAGS: &[Column] = &[
    col("contact_id", Int64, "herald's id of the contact"),
    col("external_id", Text, "the contact's id in the CRM"),
    col("tag", Text, "the tag's name"),
    col(
        "source",
        Text,
        "who set it: `import`, a person, or `CAMPAIGN/run N`",
    ),
    col("created_at", Time, "when it was set"),
    opt(
        "expires_at",
        Time,
        "when it lapses; null for never (lapsed tags are exported too)",
    ),
];
