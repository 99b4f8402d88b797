//! Contacts, their typed attributes, consent, tags and suppression entries.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::values::{ChannelFamily, EmailAddress, PhoneNumber, TimeZone};

/// A free attribute's value, typed when it is imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Bool(bool),
    Number(f64),
    Date(NaiveDate),
    Text(String),
}

/// The type an attribute is declared or inferred to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    Number,
    Date,
    Bool,
    Text,
}

impl AttributeValue {
    /// Reads a cell as the given type, or infers number, bool, date or text when the
    /// attribute has no declared type.
    pub fn parse(text: &str, declared: Option<AttributeType>) -> Result<AttributeValue, String> {
        let t = text.trim();
        let number = || t.parse::<f64>().ok().filter(|n| n.is_finite());
        let boolean = || match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" => Some(true),
            "false" | "no" | "n" => Some(false),
            _ => None,
        };
        let date = || NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
        match declared {
            Some(AttributeType::Number) => number()
                .map(AttributeValue::Number)
                .ok_or_else(|| format!("`{t}` is not a number")),
            Some(AttributeType::Bool) => boolean()
                .map(AttributeValue::Bool)
                .ok_or_else(|| format!("`{t}` is not a boolean (true/false, yes/no)")),
            Some(AttributeType::Date) => date()
                .map(AttributeValue::Date)
                .ok_or_else(|| format!("`{t}` is not a date (YYYY-MM-DD)")),
            Some(AttributeType::Text) => Ok(AttributeValue::Text(t.to_string())),
            None => Ok(number()
                .map(AttributeValue::Number)
                .or_else(|| boolean().map(AttributeValue::Bool))
                .or_else(|| date().map(AttributeValue::Date))
                .unwrap_or_else(|| AttributeValue::Text(t.to_string()))),
        }
    }

    /// Rebuilds a value from its JSON form in the store: strings that read as dates are
    /// dates, as they were when imported.
    pub fn from_json(value: &serde_json::Value) -> Option<AttributeValue> {
        match value {
            serde_json::Value::Bool(b) => Some(AttributeValue::Bool(*b)),
            serde_json::Value::Number(n) => n.as_f64().map(AttributeValue::Number),
            serde_json::Value::String(s) => Some(
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(AttributeValue::Date)
                    .unwrap_or_else(|_| AttributeValue::Text(s.clone())),
            ),
            _ => None,
        }
    }

    pub fn type_of(&self) -> AttributeType {
        match self {
            AttributeValue::Bool(_) => AttributeType::Bool,
            AttributeValue::Number(_) => AttributeType::Number,
            AttributeValue::Date(_) => AttributeType::Date,
            AttributeValue::Text(_) => AttributeType::Text,
        }
    }
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Bool(b) => write!(f, "{b}"),
            AttributeValue::Number(n) => write!(f, "{n}"),
            AttributeValue::Date(d) => write!(f, "{d}"),
            AttributeValue::Text(t) => f.write_str(t),
        }
    }
}

/// A contact's recorded consent for one channel family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    Granted,
    Denied,
    #[default]
    Unknown,
}

impl Consent {
    pub fn parse(text: &str) -> Result<Consent, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "unknown" => Ok(Consent::Unknown),
            "granted" | "yes" | "y" | "true" | "1" | "opt_in" | "opt-in" => Ok(Consent::Granted),
            "denied" | "no" | "n" | "false" | "0" | "opt_out" | "opt-out" => Ok(Consent::Denied),
            other => Err(format!(
                "`{other}` is not a consent value (granted, denied or unknown)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Granted => "granted",
            Consent::Denied => "denied",
            Consent::Unknown => "unknown",
        }
    }
}

/// Consent per channel family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consents {
    pub sms: Consent,
    pub email: Consent,
    pub call: Consent,
}

impl Consents {
    pub fn for_family(&self, family: ChannelFamily) -> Consent {
        match family {
            ChannelFamily::Sms => self.sms,
            ChannelFamily::Email => self.email,
            ChannelFamily::Call => self.call,
        }
    }
}

/// A label on a contact, with where it came from and when it lapses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    pub source: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A person herald may contact.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contact {
    pub id: i64,
    pub external_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
    pub locale: Option<String>,
    pub timezone: Option<TimeZone>,
    pub attributes: BTreeMap<String, AttributeValue>,
    pub consent: Consents,
    pub tags: Vec<Tag>,
}

impl Contact {
    /// Tags that have not lapsed at `now`.
    pub fn has_tag(&self, name: &str, now: DateTime<Utc>) -> bool {
        self.tags
            .iter()
            .any(|t| t.name == name && t.expires_at.is_none_or(|e| e > now))
    }

    /// A name and masked details, safe for logs and terminals.
    pub fn display_masked(&self) -> String {
        let phone = self
            .phone
            .as_ref()
            .map(|p| p.masked())
            .unwrap_or_else(|| "-".into());
        let email = self
            .email
            .as_ref()
            .map(|e| e.masked())
            .unwrap_or_else(|| "-".into());
        format!("{} (phone {phone}, e-mail {email})", self.external_id)
    }
}

/// What a suppression entry matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum SuppressionTarget {
    Phone(PhoneNumber),
    Email(EmailAddress),
    Contact(String),
}

impl SuppressionTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            SuppressionTarget::Phone(_) => "phone",
            SuppressionTarget::Email(_) => "email",
            SuppressionTarget::Contact(_) => "contact",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            SuppressionTarget::Phone(p) => p.as_str(),
            SuppressionTarget::Email(e) => e.as_str(),
            SuppressionTarget::Contact(c) => c,
        }
    }

    pub fn masked_value(&self) -> String {
        match self {
            SuppressionTarget::Phone(p) => p.masked(),
            SuppressionTarget::Email(e) => e.masked(),
            SuppressionTarget::Contact(c) => c.clone(),
        }
    }

    pub fn matches(&self, contact: &Contact) -> bool {
        match self {
            SuppressionTarget::Phone(p) => contact.phone.as_ref() == Some(p),
            SuppressionTarget::Email(e) => contact.email.as_ref() == Some(e),
            SuppressionTarget::Contact(id) => &contact.external_id == id,
        }
    }
}

/// Why an entry suppresses: a do-not-contact listing, the person's own opt-out, or a bounce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionKind {
    Dnc,
    OptOut,
    Bounce,
}

impl SuppressionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionKind::Dnc => "dnc",
            SuppressionKind::OptOut => "opt_out",
            SuppressionKind::Bounce => "bounce",
        }
    }

    pub fn parse(text: &str) -> Result<SuppressionKind, String> {
        match text {
            "dnc" => Ok(SuppressionKind::Dnc),
            "opt_out" => Ok(SuppressionKind::OptOut),
            "bounce" => Ok(SuppressionKind::Bounce),
            other => Err(format!(
                "unknown suppression kind `{other}` (dnc, opt_out or bounce)"
            )),
        }
    }
}

/// A do-not-contact entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub target: SuppressionTarget,
    pub kind: SuppressionKind,
    /// `None` suppresses every channel.
    pub channel: Option<ChannelFamily>,
    pub reason: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Suppression {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }

    /// Does the entry stop contacting this person on this channel family at `now`? A phone
    /// number's entry covers calls and SMS, an address's entry covers e-mail, a contact's
    /// entry covers everything; `channel` narrows any of them further.
    pub fn applies(&self, contact: &Contact, family: ChannelFamily, now: DateTime<Utc>) -> bool {
        let reaches = match self.target {
            SuppressionTarget::Phone(_) => family != ChannelFamily::Email,
            SuppressionTarget::Email(_) => family == ChannelFamily::Email,
            SuppressionTarget::Contact(_) => true,
        };
        reaches
            && self.is_active(now)
            && self.channel.is_none_or(|c| c == family)
            && self.target.matches(contact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_types_are_inferred_from_the_text() {
        assert_eq!(
            AttributeValue::parse("120.50", None).unwrap(),
            AttributeValue::Number(120.5)
        );
        assert_eq!(
            AttributeValue::parse("yes", None).unwrap(),
            AttributeValue::Bool(true)
        );
        assert_eq!(
            AttributeValue::parse("2026-12-01", None).unwrap(),
            AttributeValue::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap())
        );
        assert_eq!(
            AttributeValue::parse("gold", None).unwrap(),
            AttributeValue::Text("gold".into())
        );
    }

    #[test]
    fn declared_types_refuse_values_of_another_type() {
        assert!(AttributeValue::parse("gold", Some(AttributeType::Number)).is_err());
        assert_eq!(
            AttributeValue::parse("00123", Some(AttributeType::Text)).unwrap(),
            AttributeValue::Text("00123".into())
        );
    }
}
