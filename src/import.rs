//! CSV imports of contacts and do-not-contact entries.
//!
//! Files are streamed row by row and written in batches, so memory stays constant however
//! large the file. A bad row is reported (line and reason) through a callback and left out;
//! the good rows are imported. Re-importing the same file changes nothing.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use crate::domain::contact::{
    AttributeType, AttributeValue, Consent, Consents, Contact, Suppression, SuppressionKind,
    SuppressionTarget,
};
use crate::domain::values::{
    ChannelFamily, EmailAddress, PhoneNumber, Span, TimeZone, mask_email, mask_phone,
};
use crate::store::{NewContact, Present, Store, StoreError, UpsertCounts};

/// Rows written per transaction.
pub const BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has no `{0}` column (columns are read from the first line)")]
    MissingColumn(&'static str),
    #[error("the column `{0}` appears twice in the header")]
    DuplicateColumn(String),
    #[error("reading the CSV header: {0}")]
    Header(csv::Error),
    /// The file itself could not be read on (not a bad row: the bytes never came).
    #[error("reading the file at line {line}: {source}")]
    Read { line: u64, source: csv::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One rejected row.
#[derive(Clone, Debug, Serialize)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportReport {
    pub rows: u64,
    #[serde(flatten)]
    pub written: UpsertCounts,
    pub rejected: u64,
    /// Contacts whose time zone was inferred from their phone number.
    pub timezone_inferred: u64,
    /// Contacts with no time zone (they use the configured default, or are skipped).
    pub timezone_unknown: u64,
}

/// How contact rows are read.
#[derive(Clone, Debug, Default)]
pub struct ContactImport {
    pub list: Option<String>,
    pub default_region: Option<String>,
    pub attributes: BTreeMap<String, AttributeType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    ExternalId,
    FirstName,
    LastName,
    Phone,
    Email,
    Locale,
    Timezone,
    ConsentSms,
    ConsentEmail,
    ConsentCall,
    Tags,
    Attribute,
}

fn column_of(header: &str) -> Column {
    match header {
        "external_id" | "id" | "customer_id" | "contact_id" => Column::ExternalId,
        "first_name" | "firstname" | "given_name" => Column::FirstName,
        "last_name" | "lastname" | "surname" | "family_name" => Column::LastName,
        "phone" | "mobile" | "phone_number" | "msisdn" => Column::Phone,
        "email" | "e_mail" | "email_address" => Column::Email,
        "locale" | "language" | "lang" => Column::Locale,
        "timezone" | "time_zone" | "tz" => Column::Timezone,
        "consent_sms" => Column::ConsentSms,
        "consent_email" => Column::ConsentEmail,
        "consent_call" | "consent_voice" | "consent_phone" => Column::ConsentCall,
        "tags" => Column::Tags,
        _ => Column::Attribute,
    }
}

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-'], "_")
}

/// A CSV reader over `input` and its header names, normalised (`First Name` → `first_name`).
fn csv_reader<R: Read>(input: R) -> Result<(csv::Reader<LoneCrAsLf<R>>, Vec<String>), ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(LoneCrAsLf::new(input));
    let headers = reader
        .headers()
        .map_err(ImportError::Header)?
        .iter()
        .map(normalise_header)
        .collect();
    Ok((reader, headers))
}

/// A CSV file's bytes with each lone CR (the line end of old Mac exports, or a stray one)
/// turned into LF. The CSV reader ends a record at a CR as at an LF but counts only LFs as
/// lines, so without this every row of a CR-only file was reported on line 1. A CR before
/// an LF is left alone (CRLF stays one line end).
struct LoneCrAsLf<R> {
    inner: R,
    /// A byte read to decide about a CR, given out at the start of the next read.
    pending: Option<u8>,
}

impl<R: Read> LoneCrAsLf<R> {
    fn new(inner: R) -> LoneCrAsLf<R> {
        LoneCrAsLf {
            inner,
            pending: None,
        }
    }
}

impl<R: Read> Read for LoneCrAsLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if let Some(b) = self.pending.take() {
            buf[0] = b;
            n = 1;
        }
        n += self.inner.read(&mut buf[n..])?;
        if n == 0 {
            return Ok(0);
        }
        for i in 0..n - 1 {
            if buf[i] == b'\r' && buf[i + 1] != b'\n' {
                buf[i] = b'\n';
            }
        }
        // A CR at the end of what was read: the next byte decides, and waits for the next read.
        if buf[n - 1] == b'\r' {
            let mut next = [0u8; 1];
            let got = self.inner.read(&mut next)?;
            if got == 0 || next[0] != b'\n' {
                buf[n - 1] = b'\n';
            }
            if got == 1 {
                self.pending = Some(next[0]);
            }
        }
        Ok(n)
    }
}

/// Parses a phone number; the error shows the input masked, since rejected rows are
/// reported on stderr and end up in logs.
fn parse_phone(text: &str, region: Option<&str>) -> Result<PhoneNumber, String> {
    PhoneNumber::parse(text, region).map_err(|e| masked_error(text, e))
}

/// [`parse_phone`], also giving the number's region from the same parse.
fn parse_phone_with_region(
    text: &str,
    region: Option<&str>,
) -> Result<(PhoneNumber, Option<String>), String> {
    PhoneNumber::parse_with_region(text, region).map_err(|e| masked_error(text, e))
}

fn masked_error(text: &str, e: String) -> String {
    e.replace(text.trim(), &mask_phone(text.trim()))
}

/// Parses an e-mail address; the error shows the input masked.
fn parse_email(text: &str) -> Result<EmailAddress, String> {
    EmailAddress::parse(text).map_err(|e| e.replace(text.trim(), &mask_email(text.trim())))
}

/// Checks a locale tag such as `en`, `es-MX`, `zh_Hant`; returns it as `es-MX`.
pub fn parse_locale(text: &str) -> Result<String, String> {
    let t = text.trim().replace('_', "-");
    let mut parts = t.split('-');
    let lang = parts.next().unwrap_or("");
    let ok_lang = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
    let rest: Vec<&str> = parts.collect();
    let ok_rest = rest.len() <= 2
        && rest
            .iter()
            .all(|p| (2..=4).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok_lang || !ok_rest {
        return Err(format!(
            "`{text}` is not a locale (expected e.g. `en`, `es-MX`)"
        ));
    }
    let mut out = lang.to_lowercase();
    for p in rest {
        out.push('-');
        out.push_str(&if p.len() == 2 {
            p.to_uppercase()
        } else {
            p.to_string()
        });
    }
    Ok(out)
}

/// Streams contacts from CSV into the store. `on_error` hears every rejected row;
/// `on_progress` hears the bytes read so far.
///
/// Rows are read and checked on a blocking thread while the store writes the batch before
/// them: phone-number validation and the writes each take about half of an import's time,
/// so on two cores they overlap instead of taking turns. At most two parsed batches wait
/// for the writer, so memory stays flat.
pub async fn import_contacts<S: Store>(
    store: &S,
    input: impl Read + Send + 'static,
    options: &ContactImport,
    now: DateTime<Utc>,
    mut on_error: impl FnMut(&RowError),
    mut on_progress: impl FnMut(u64),
) -> Result<ImportReport, ImportError> {
    let (reader, headers) = csv_reader(input)?;
    let columns: Vec<Column> = headers.iter().map(|h| column_of(h)).collect();
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h)
            || (columns[i] != Column::Attribute && columns[..i].contains(&columns[i]))
        {
            return Err(ImportError::DuplicateColumn(h.clone()));
        }
    }
    if !columns.contains(&Column::ExternalId) {
        return Err(ImportError::MissingColumn("external_id"));
    }
    let has = |c: Column| columns.contains(&c);
    let present = Present {
        first_name: has(Column::FirstName),
        last_name: has(Column::LastName),
        phone: has(Column::Phone),
        email: has(Column::Email),
        locale: has(Column::Locale),
        timezone: has(Column::Timezone) || has(Column::Phone),
        consent_sms: has(Column::ConsentSms),
        consent_email: has(Column::ConsentEmail),
        consent_call: has(Column::ConsentCall),
    };
    let (parsed, mut batches) = tokio::sync::mpsc::channel(2);
    let parser = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || parse_rows(reader, headers, columns, options, parsed))
    };
    let mut report = ImportReport::default();
    // A failed write returns here, dropping `batches`: the parser stops at its next batch.
    while let Some(batch) = batches.recv().await {
        let Parsed {
            contacts,
            rejected,
            rows,
            timezone_inferred,
            timezone_unknown,
            position,
            failed,
        } = batch;
        report.rows += rows;
        report.rejected += rejected.len() as u64;
        report.timezone_inferred += timezone_inferred;
        report.timezone_unknown += timezone_unknown;
        rejected.iter().for_each(&mut on_error);
        if !contacts.is_empty() {
            report.written += store
                .upsert_contacts(&contacts, present, options.list.as_deref(), now)
                .await?;
        }
        on_progress(position);
        if let Some(e) = failed {
            return Err(e);
        }
    }
    if let Err(e) = parser.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    if report.written.inserted > 0 {
        store.refresh_statistics().await?;
    }
    tracing::info!(
        rows = report.rows,
        inserted = report.written.inserted,
        updated = report.written.updated,
        unchanged = report.written.unchanged,
        rejected = report.rejected,
        "contacts imported"
    );
    Ok(report)
}

/// Rows read from one stretch of the file: the contacts to write and the rows refused.
struct Parsed {
    contacts: Vec<NewContact>,
    rejected: Vec<RowError>,
    /// Rows read, blank ones left out.
    rows: u64,
    timezone_inferred: u64,
    timezone_unknown: u64,
    /// Bytes of the file read so far.
    position: u64,
    /// The read error that ended the file early; the batch is the last.
    failed: Option<ImportError>,
}

/// Reads the rows after the header into batches of [`BATCH`] contacts, sent to the writer
/// in file order; stops at the end of the file, at a read error (sent with the last batch)
/// or when the writer has gone.
fn parse_rows<R: Read>(
    mut reader: csv::Reader<R>,
    headers: Vec<String>,
    columns: Vec<Column>,
    options: ContactImport,
    out: tokio::sync::mpsc::Sender<Parsed>,
) {
    let empty = || Parsed {
        contacts: Vec::with_capacity(BATCH),
        rejected: Vec::new(),
        rows: 0,
        timezone_inferred: 0,
        timezone_unknown: 0,
        position: 0,
        failed: None,
    };
    let mut batch = empty();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // The rest of the file never came: no bad row, and no import that ends as if
            // the file had.
            Err(e) if e.is_io_error() => {
                batch.failed = Some(ImportError::Read { line, source: e });
                break;
            }
            Err(e) => {
                batch.rows += 1;
                batch.rejected.push(RowError {
                    line: e.position().map_or(line, |p| p.line()),
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        batch.rows += 1;
        let line = record.position().map_or(line, |p| p.line());
        match contact_from_record(&record, &headers, &columns, &options) {
            Ok((contact, inferred)) => {
                batch.timezone_inferred += u64::from(inferred);
                batch.timezone_unknown += u64::from(contact.contact.timezone.is_none());
                batch.contacts.push(contact);
            }
            Err(reason) => batch.rejected.push(RowError { line, reason }),
        }
        if batch.contacts.len() >= BATCH {
            batch.position = reader.position().byte();
            if out
                .blocking_send(std::mem::replace(&mut batch, empty()))
                .is_err()
            {
                return;
            }
        }
    }
    batch.position = reader.position().byte();
    let _ = out.blocking_send(batch);
}

/// Reads one row; the bool says whether the time zone was inferred from the phone.
fn contact_from_record(
    record: &csv::StringRecord,
    headers: &[String],
    columns: &[Column],
    options: &ContactImport,
) -> Result<(NewContact, bool), String> {
    if record.len() != headers.len() {
        return Err(format!(
            "the row has {} fields but the header has {}",
            record.len(),
            headers.len()
        ));
    }
    let mut c = Contact {
        id: 0,
        external_id: String::new(),
        first_name: None,
        last_name: None,
        phone: None,
        email: None,
        locale: None,
        timezone: None,
        attributes: BTreeMap::new(),
        consent: Consents::default(),
        tags: Vec::new(),
    };
    let mut tags: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut phone_region: Option<String> = None;
    for ((value, header), column) in record.iter().zip(headers).zip(columns) {
        if value.is_empty() {
            continue;
        }
        let mut check = |r: Result<(), String>| {
            if let Err(e) = r {
                problems.push(format!("{header}: {e}"));
            }
        };
        match column {
            Column::ExternalId => c.external_id = value.to_string(),
            Column::FirstName => c.first_name = Some(value.to_string()),
            Column::LastName => c.last_name = Some(value.to_string()),
            Column::Phone => check(
                parse_phone_with_region(value, options.default_region.as_deref()).map(|(p, r)| {
                    c.phone = Some(p);
                    phone_region = r;
                }),
            ),
            Column::Email => check(parse_email(value).map(|e| c.email = Some(e))),
            Column::Locale => check(parse_locale(value).map(|l| c.locale = Some(l))),
            Column::Timezone => check(TimeZone::parse(value).map(|t| c.timezone = Some(t))),
            Column::ConsentSms => check(Consent::parse(value).map(|v| c.consent.sms = v)),
            Column::ConsentEmail => check(Consent::parse(value).map(|v| c.consent.email = v)),
            Column::ConsentCall => check(Consent::parse(value).map(|v| c.consent.call = v)),
            Column::Tags => {
                for tag in value
                    .split([';', '|'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                {
                    if crate::domain::is_name(tag) {
                        tags.push(tag.to_string());
                    } else {
                        problems.push(format!(
                            "tags: `{tag}` is not a tag name (letters, digits, `_`, `-`)"
                        ));
                    }
                }
            }
            Column::Attribute => check(
                AttributeValue::parse(value, options.attributes.get(header).copied()).map(|v| {
                    c.attributes.insert(header.clone(), v);
                }),
            ),
        }
    }
    if c.external_id.is_empty() {
        problems.insert(0, "external_id is empty".into());
    }
    // A file with neither column updates attributes of known contacts; one with them
    // must give each row a way to reach the person.
    let reachable_columns = columns.contains(&Column::Phone) || columns.contains(&Column::Email);
    if problems.is_empty() && reachable_columns && c.phone.is_none() && c.email.is_none() {
        problems.push("neither a phone number nor an e-mail address".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut inferred = false;
    if c.timezone.is_none()
        && let Some(region) = phone_region
    {
        c.timezone = TimeZone::of_single_zone_region(&region);
        inferred = c.timezone.is_some();
    }
    Ok((NewContact { contact: c, tags }, inferred))
}

/// Reads an expiry: a date (end of that day, UTC), a date-time, or a duration from now.
pub fn parse_expiry(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid"))
            .and_utc());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    Span::parse(t).map(|s| now + s.to_chrono()).map_err(|_| {
        format!(
            "`{t}` is not an expiry (a date 2027-01-31, a date-time, or a duration such as 90d)"
        )
    })
}

/// Builds one suppression entry from the forms the CLI and CSV files use.
#[allow(clippy::too_many_arguments)]
pub fn suppression_entry(
    phone: Option<&str>,
    email: Option<&str>,
    contact: Option<&str>,
    kind: SuppressionKind,
    channel: Option<&str>,
    reason: &str,
    source: &str,
    expires: Option<&str>,
    default_region: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Suppression, String> {
    let target = match (
        phone.filter(|s| !s.is_empty()),
        email.filter(|s| !s.is_empty()),
        contact.filter(|s| !s.is_empty()),
    ) {
        (Some(p), None, None) => SuppressionTarget::Phone(parse_phone(p, default_region)?),
        (None, Some(e), None) => SuppressionTarget::Email(parse_email(e)?),
        (None, None, Some(c)) => SuppressionTarget::Contact(c.to_string()),
        (None, None, None) => return Err("give one of phone, email or contact".into()),
        _ => return Err("give only one of phone, email or contact per entry".into()),
    };
    let channel = match channel.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("all") | Some("any") => None,
        Some("sms") => Some(ChannelFamily::Sms),
        Some("email") => Some(ChannelFamily::Email),
        Some("call") | Some("voice_bot") | Some("agent") => Some(ChannelFamily::Call),
        Some(other) => {
            return Err(format!(
                "`{other}` is not a channel (sms, email, call or all)"
            ));
        }
    };
    let expires_at = expires
        .filter(|s| !s.trim().is_empty())
        .map(|e| parse_expiry(e, now))
        .transpose()?;
    Ok(Suppression {
        target,
        kind,
        channel,
        reason: if reason.trim().is_empty() {
            kind.as_str().to_string()
        } else {
            reason.trim().to_string()
        },
        source: source.to_string(),
        created_at: now,
        expires_at,
    })
}

/// Streams do-not-contact entries from CSV: columns `phone`, `email` or `contact` (one per
/// row), and optionally `reason`, `channel`, `expires`.
pub async fn import_suppressions<S: Store>(
    store: &S,
    input: impl Read,
    source: &str,
    default_region: Option<&str>,
    now: DateTime<Utc>,
    mut on_error: impl FnMut(&RowError),
) -> Result<ImportReport, ImportError> {
    let (mut reader, headers) = csv_reader(input)?;
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (phone, email, contact) = (
        find(&["phone", "mobile", "phone_number"]),
        find(&["email", "email_address"]),
        find(&["contact", "external_id"]),
    );
    if phone.is_none() && email.is_none() && contact.is_none() {
        return Err(ImportError::MissingColumn("phone, email or contact"));
    }
    let (reason, channel, expires) = (
        find(&["reason"]),
        find(&["channel"]),
        find(&["expires", "expires_at"]),
    );
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut failed = None;
    for (i, row) in reader.records().enumerate() {
        let record = match row {
            Ok(r) => r,
            // The rest of the file never came: no bad row, and no import that ends as if
            // the file had (once the entries read before it are written).
            Err(e) if e.is_io_error() => {
                failed = Some(ImportError::Read {
                    line: i as u64 + 2,
                    source: e,
                });
                break;
            }
            Err(e) => {
                report.rows += 1;
                report.rejected += 1;
                on_error(&RowError {
                    line: e.position().map_or(i as u64 + 2, |p| p.line()),
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        report.rows += 1;
        let line = record.position().map_or(i as u64 + 2, |p| p.line());
        let get = |c: Option<usize>| c.and_then(|i| record.get(i));
        match suppression_entry(
            get(phone),
            get(email),
            get(contact),
            SuppressionKind::Dnc,
            get(channel),
            get(reason).unwrap_or(""),
            source,
            get(expires),
            default_region,
            now,
        ) {
            Ok(s) => batch.push(s),
            Err(reason) => {
                report.rejected += 1;
                on_error(&RowError { line, reason });
            }
        }
        if batch.len() >= BATCH {
            report.written.inserted += store.upsert_suppressions(&batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        report.written.inserted += store.upsert_suppressions(&batch).await?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most `step` bytes a read, to put chunk edges everywhere.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn lone_crs_become_line_ends_and_crlf_stays_whole_wherever_reads_end() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"a,b\rc,d\r", b"a,b\nc,d\n"),
            (b"a,b\r\nc,d\r\n", b"a,b\r\nc,d\r\n"),
            (b"a,b\nc,d", b"a,b\nc,d"),
            (b"a\r\rb\r\n\r", b"a\n\nb\r\n\n"),
            (b"\r", b"\n"),
            (b"", b""),
        ];
        for (input, expected) in cases {
            for step in 1..=4 {
                for buffer in [1, 2, 3, 64] {
                    let mut reader = LoneCrAsLf::new(Trickle { bytes: input, step });
                    let mut out = Vec::new();
                    let mut chunk = vec![0u8; buffer];
                    loop {
                        let n = reader.read(&mut chunk).unwrap();
                        if n == 0 {
                            break;
                        }
                        out.extend_from_slice(&chunk[..n]);
                    }
                    assert_eq!(
                        out, expected,
                        "{input:?} read {step} and {buffer} at a time"
                    );
                }
            }
        }
    }

    #[test]
    fn locales_are_normalised() {
        assert_eq!(parse_locale("es_mx").unwrap(), "es-MX");
        assert_eq!(parse_locale("zh-Hant").unwrap(), "zh-Hant");
        assert!(parse_locale("english").is_err());
    }

    #[test]
    fn a_row_reports_every_bad_field_at_once() {
        let headers: Vec<String> = ["external_id", "phone", "email", "balance"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let columns: Vec<Column> = headers.iter().map(|h| column_of(h)).collect();
        let options = ContactImport {
            default_region: Some("GB".into()),
            attributes: [("balance".to_string(), AttributeType::Number)].into(),
            ..Default::default()
        };
        let record = csv::StringRecord::from(vec!["C1", "12", "nope", "lots"]);
        let err = contact_from_record(&record, &headers, &columns, &options).unwrap_err();
        assert!(
            err.contains("phone:") && err.contains("email:") && err.contains("balance:"),
            "{err}"
        );
    }

    #[test]
    fn time_zones_are_inferred_only_for_single_zone_regions() {
        let headers: Vec<String> = ["external_id", "phone"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let columns: Vec<Column> = headers.iter().map(|h| column_of(h)).collect();
        let options = ContactImport::default();
        let gb = csv::StringRecord::from(vec!["C1", "+447400123456"]);
        let (c, inferred) = contact_from_record(&gb, &headers, &columns, &options).unwrap();
        assert_eq!(
            (c.contact.timezone.map(|t| t.name()), inferred),
            (Some("Europe/London"), true)
        );
        let us = csv::StringRecord::from(vec!["C2", "+12015550123"]);
        let (c, inferred) = contact_from_record(&us, &headers, &columns, &options).unwrap();
        assert_eq!((c.contact.timezone, inferred), (None, false));
    }
}
