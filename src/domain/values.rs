//! Checked value types: each is parsed once from text and cannot be invalid afterwards.
//!
//! `PhoneNumber` is always E.164, `EmailAddress` always has one `@` and a dotted domain,
//! `TimeZone` is always a known IANA zone, `Span` is a positive length of time. Parsing
//! errors are plain strings meant to be shown to a person next to the offending input.

use std::fmt;
use std::str::FromStr;

use chrono::Weekday;
use serde::{Deserialize, Serialize};

/// A way of reaching a contact.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Sms,
    Email,
    VoiceBot,
    Agent,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Sms,
        Channel::Email,
        Channel::VoiceBot,
        Channel::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::VoiceBot => "voice_bot",
            Channel::Agent => "agent",
        }
    }

    /// Voice bots and human agents both place phone calls: they share quiet hours,
    /// call caps and voice consent.
    pub fn is_call(self) -> bool {
        matches!(self, Channel::VoiceBot | Channel::Agent)
    }

    /// The consent and cap family this channel belongs to.
    pub fn family(self) -> ChannelFamily {
        match self {
            Channel::Sms => ChannelFamily::Sms,
            Channel::Email => ChannelFamily::Email,
            Channel::VoiceBot | Channel::Agent => ChannelFamily::Call,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown channel `{s}` (expected sms, email, voice_bot or agent)")
            })
    }
}

/// Channels grouped the way consent, quiet hours and caps see them.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChannelFamily {
    Sms,
    Email,
    Call,
}

impl ChannelFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelFamily::Sms => "sms",
            ChannelFamily::Email => "email",
            ChannelFamily::Call => "call",
        }
    }
}

/// A phone number in E.164 form (`+447700900123`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number as a person would write it, with `default_region` (ISO 3166 code
    /// such as `GB`) for numbers written without a country code.
    pub fn parse(text: &str, default_region: Option<&str>) -> Result<PhoneNumber, String> {
        Self::parse_number(text, default_region).map(|n| Self::e164(&n))
    }

    /// [`PhoneNumber::parse`], also giving the number's region (as [`PhoneNumber::region`])
    /// from the same parse.
    pub fn parse_with_region(
        text: &str,
        default_region: Option<&str>,
    ) -> Result<(PhoneNumber, Option<String>), String> {
        let number = Self::parse_number(text, default_region)?;
        let region = number.country().id().map(|id| format!("{id:?}"));
        Ok((Self::e164(&number), region))
    }

    fn parse_number(
        text: &str,
        default_region: Option<&str>,
    ) -> Result<phonenumber::PhoneNumber, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty phone number".into());
        }
        let region = match default_region {
            Some(r) => Some(
                r.to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| format!("unknown region `{r}`"))?,
            ),
            None => None,
        };
        let number = phonenumber::parse(region, trimmed)
            .map_err(|e| format!("`{trimmed}` is not a phone number ({e})"))?;
        if !phonenumber::is_valid(&number) {
            return Err(format!("`{trimmed}` is not a valid phone number"));
        }
        Ok(number)
    }

    fn e164(number: &phonenumber::PhoneNumber) -> PhoneNumber {
        PhoneNumber(number.format().mode(phonenumber::Mode::E164).to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ISO 3166 region of the number (`GB`, `US`...), when the numbering plan tells.
    pub fn region(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| format!("{id:?}"))
    }

    /// The number with all but the country code and last two digits hidden, for logs.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.starts_with('+')
            && value.len() > 4
            && value[1..].bytes().all(|b| b.is_ascii_digit())
        {
            Ok(PhoneNumber(value))
        } else {
            PhoneNumber::parse(&value, None)
        }
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks a phone number for logs: `+44*******23`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let keep_head = if chars[0] == '+' { 3 } else { 2 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks an e-mail address for logs: `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// Masks the e-mail addresses and phone numbers inside free text (a provider's error, an
/// SMTP reply) before it reaches a log or a shared screen: a word with an `@` is masked
/// as an address, a run of seven or more digits (with an optional `+` and the usual
/// separators inside) as a phone number. Other text is left as it was.
pub fn mask_contact_details(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str(&mask_email(word));
        } else {
            out.push_str(&mask_digit_runs(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '"' | '\'' | ',' | ';' | '(' | ')' | '[' | ']' | ':' | '='
            )
        {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Masks the runs of seven or more digits in a word (phone numbers, with `+`, `-`, `.`
/// allowed inside a run).
fn mask_digit_runs(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && (chars[j].is_ascii_digit() || matches!(chars[j], '-' | '.')) {
            j += 1;
        }
        let run: String = chars[i..j].iter().collect();
        if run.chars().filter(|c| c.is_ascii_digit()).count() >= 7 {
            out.push_str(&mask_phone(&run));
        } else {
            out.push_str(&run);
        }
        i = j;
    }
    out
}

/// Masks a person's name for shared files: the first letter kept, `J***`. The length is
/// hidden too, since a short name with its length is easy to guess.
pub fn mask_name(name: &str) -> String {
    match name.trim().chars().next() {
        Some(first) => format!("{first}***"),
        None => String::new(),
    }
}

/// An e-mail address checked for the shape mail servers accept: `local@domain.tld`,
/// no spaces, the domain lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<EmailAddress, String> {
        let trimmed = text.trim();
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or_else(|| format!("`{trimmed}` is not an e-mail address (no `@`)"))?;
        let bad = |why: &str| Err(format!("`{trimmed}` is not an e-mail address ({why})"));
        if local.is_empty() || local.len() > 64 {
            return bad("the part before `@` is empty or too long");
        }
        if local.contains('@') || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("it contains a space or a second `@`");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad("misplaced dot before `@`");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return bad("the domain is not a dotted host name");
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A known IANA time zone (`Europe/London`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    pub fn parse(text: &str) -> Result<TimeZone, String> {
        let trimmed = text.trim();
        trimmed.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            let hint =
                crate::domain::suggest(trimmed, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
            format!("unknown time zone `{trimmed}`{hint}")
        })
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The zone of a region that has exactly one, so a contact's zone can be inferred from
    /// their phone number. Regions spanning several zones (US, CA, BR, AU, RU, MX, ES...)
    /// answer `None`: guessing there could place a call at night.
    pub fn of_single_zone_region(region: &str) -> Option<TimeZone> {
        let name = match region {
            "GB" => "Europe/London",
            "IE" => "Europe/Dublin",
            "FR" => "Europe/Paris",
            "DE" => "Europe/Berlin",
            "IT" => "Europe/Rome",
            "NL" => "Europe/Amsterdam",
            "BE" => "Europe/Brussels",
            "CH" => "Europe/Zurich",
            "AT" => "Europe/Vienna",
            "SE" => "Europe/Stockholm",
            "NO" => "Europe/Oslo",
            "DK" => "Europe/Copenhagen",
            "FI" => "Europe/Helsinki",
            "PL" => "Europe/Warsaw",
            "CZ" => "Europe/Prague",
            "GR" => "Europe/Athens",
            "RO" => "Europe/Bucharest",
            "HU" => "Europe/Budapest",
            "JP" => "Asia/Tokyo",
            "KR" => "Asia/Seoul",
            "CN" => "Asia/Shanghai",
            "HK" => "Asia/Hong_Kong",
            "SG" => "Asia/Singapore",
            "IN" => "Asia/Kolkata",
            "PH" => "Asia/Manila",
            "TH" => "Asia/Bangkok",
            "VN" => "Asia/Ho_Chi_Minh",
            "AE" => "Asia/Dubai",
            "IL" => "Asia/Jerusalem",
            "TR" => "Europe/Istanbul",
            "ZA" => "Africa/Johannesburg",
            "NG" => "Africa/Lagos",
            "KE" => "Africa/Nairobi",
            "EG" => "Africa/Cairo",
            "MA" => "Africa/Casablanca",
            "AR" => "America/Argentina/Buenos_Aires",
            "CO" => "America/Bogota",
            "PE" => "America/Lima",
            "CL" => "America/Santiago",
            "NZ" => "Pacific/Auckland",
            _ => return None,
        };
        Some(TimeZone(name.parse().expect("table holds valid zones")))
    }
}

impl TryFrom<String> for TimeZone {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TimeZone::parse(&value)
    }
}

impl From<TimeZone> for String {
    fn from(value: TimeZone) -> Self {
        value.0.name().to_string()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A positive length of time written `90s`, `15m`, `2h`, `7d`, `1w` or combined `1h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span(i64);

impl Span {
    pub fn from_secs(secs: i64) -> Span {
        Span(secs)
    }

    pub fn secs(self) -> i64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0)
    }

    pub fn parse(text: &str) -> Result<Span, String> {
        let t = text.trim();
        let err =
            || format!("`{t}` is not a duration (expected e.g. `15m`, `2h`, `48h`, `7d`, `1h30m`)");
        if t.is_empty() {
            return Err(err());
        }
        if t == "0" {
            return Ok(Span(0));
        }
        let mut total: i64 = 0;
        let mut digits = String::new();
        for c in t.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(err()),
            };
            let n: i64 = digits.parse().map_err(|_| err())?;
            total = total
                .checked_add(n.checked_mul(unit).ok_or_else(err)?)
                .ok_or_else(err)?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(err());
        }
        // Longer spans are typing mistakes, and would overflow a date they are added to.
        if total > Self::MAX.0 {
            return Err(format!("`{t}` is longer than 100 years"));
        }
        Ok(Span(total))
    }

    /// The longest span herald accepts: 100 years.
    pub const MAX: Span = Span(100 * 366 * 86_400);
}

impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+[smhdw])+$|^0$",
            "description": "A length of time: 90s, 15m, 2h, 7d, 1w, 1h30m"
        })
    }
}

impl TryFrom<String> for Span {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Span::parse(&value)
    }
}

impl From<Span> for String {
    fn from(value: Span) -> Self {
        value.to_string()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
            if rest >= unit {
                write!(f, "{}{name}", rest / unit)?;
                rest %= unit;
            }
        }
        Ok(())
    }
}

/// Parses `mon`, `monday`, `Mon`... into a weekday.
pub fn parse_weekday(text: &str) -> Result<Weekday, String> {
    let t = text.trim().to_ascii_lowercase();
    const NAMES: [(&str, &str, Weekday); 7] = [
        ("mon", "monday", Weekday::Mon),
        ("tue", "tuesday", Weekday::Tue),
        ("wed", "wednesday", Weekday::Wed),
        ("thu", "thursday", Weekday::Thu),
        ("fri", "friday", Weekday::Fri),
        ("sat", "saturday", Weekday::Sat),
        ("sun", "sunday", Weekday::Sun),
    ];
    NAMES
        .iter()
        .find(|(short, long, _)| t == *short || t == *long)
        .map(|(_, _, d)| *d)
        .ok_or_else(|| {
            format!(
                "`{}` is not a day of the week (expected mon, tue, ... sun)",
                text.trim()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_details_inside_text_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_contact_details("550 5.1.1 <gone@example.com>: Recipient address rejected"),
            "550 5.1.1 <g***@example.com>: Recipient address rejected"
        );
        assert_eq!(
            mask_contact_details(r#"{"to":"+447400123456","error":"invalid_number"}"#),
            r#"{"to":"+44********56","error":"invalid_number"}"#
        );
        assert_eq!(
            mask_contact_details("call 07400-123-456 at 09:00, code 4.3.0, ref 123456"),
            "call 07*********56 at 09:00, code 4.3.0, ref 123456"
        );
    }

    #[test]
    fn phone_numbers_normalise_to_e164_with_the_default_region() {
        let p = PhoneNumber::parse("07400 123456", Some("GB")).unwrap();
        assert_eq!(p.as_str(), "+447400123456");
        assert_eq!(p.region().as_deref(), Some("GB"));
        let us = PhoneNumber::parse("+1 (212) 555-0123", Some("GB")).unwrap();
        assert_eq!(us.as_str(), "+12125550123");
        assert!(PhoneNumber::parse("12345", Some("GB")).is_err());
        assert!(PhoneNumber::parse("not a number", Some("GB")).is_err());
    }

    #[test]
    fn masking_hides_the_middle_of_numbers_and_addresses() {
        assert_eq!(mask_phone("+447400123456"), "+44********56");
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_name("Jane"), "J***");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn email_addresses_are_checked_and_domains_lowercased() {
        assert_eq!(
            EmailAddress::parse(" Jane@Example.COM ").unwrap().as_str(),
            "Jane@example.com"
        );
        for bad in [
            "jane",
            "jane@",
            "@x.com",
            "jane@localhost",
            "ja ne@x.com",
            "a@@x.com",
            "a@x..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn spans_parse_and_print_back() {
        assert_eq!(Span::parse("1h30m").unwrap().secs(), 5400);
        assert_eq!(Span::parse("7d").unwrap().secs(), 604_800);
        assert_eq!(Span::parse("48h").unwrap().to_string(), "2d");
        assert!(Span::parse("15").is_err());
        assert!(Span::parse("15x").is_err());
    }

    #[test]
    fn a_span_too_long_to_add_to_a_date_is_refused_with_a_reason() {
        assert_eq!(Span::parse("36600d").unwrap(), Span::MAX);
        for text in ["36601d", "99999999999999d", "9223372036854775807s"] {
            let err = Span::parse(text).unwrap_err();
            assert!(err.contains("100 years"), "{text}: {err}");
        }
        // The longest one can be added to any date herald works with.
        let now = chrono::Utc::now();
        assert!(now.checked_add_signed(Span::MAX.to_chrono()).is_some());
    }

    #[test]
    fn unknown_time_zones_suggest_the_closest_name() {
        let err = TimeZone::parse("Europe/Londn").unwrap_err();
        assert!(err.contains("Europe/London"), "{err}");
    }
}
