//! The pure domain: contacts, campaigns, schedules, windows, the contact policy, segments,
//! routing, planning decisions, the send-time check and SMS encoding. Nothing here reads a
//! clock, a file or a database: every decision is a function of its inputs, so it is unit-
//! and property-tested without I/O.

pub mod campaign;
pub mod caps;
pub mod contact;
pub mod conversion;
pub mod exported;
pub mod ledger;
pub mod lifecycle;
pub mod outcome;
pub mod plan;
pub mod policy;
pub mod rate;
pub mod reason;
pub mod schedule;
pub mod segment;
pub mod send_check;
pub mod sms;
pub mod stats;
pub mod survey;
pub mod values;
pub mod window;

/// Is `s` a name (of a tag, step, question...): letters, digits, `_` and `-`, not empty?
/// The same rule everywhere, so a tag written in a filter can always be set by a rule.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The candidate closest to `input` by edit distance, when close enough to be a likely
/// typo ("did you mean ...?").
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_lower = input.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&input_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d > 0 && *d <= (c.len().max(input.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        assert_eq!(
            super::suggest("voicebot", ["sms", "email", "voice_bot", "agent"]),
            Some("voice_bot")
        );
        assert_eq!(
            super::suggest("fax", ["sms", "email", "voice_bot", "agent"]),
            None
        );
    }
}
