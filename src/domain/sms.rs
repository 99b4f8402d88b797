//! SMS length and encoding: a message is GSM-7 when every character is in the GSM 03.38
//! default alphabet (extension characters such as `€` and `{` take two septets), and UCS-2
//! otherwise. Segments: GSM-7 fits 160 septets in one message or 153 per part; UCS-2 fits
//! 70 UTF-16 units or 67 per part.

use serde::Serialize;

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

/// How a text travels as SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmsShape {
    pub encoding: SmsEncoding,
    /// Septets for GSM-7, UTF-16 units for UCS-2.
    pub units: usize,
    pub segments: usize,
    /// The first characters that forced UCS-2, if any.
    pub non_gsm: Vec<char>,
}

pub fn shape(text: &str) -> SmsShape {
    let mut septets: usize = 0;
    let mut non_gsm = Vec::new();
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else if non_gsm.len() < 5 && !non_gsm.contains(&c) {
            non_gsm.push(c);
        }
    }
    if non_gsm.is_empty() {
        let segments = match septets {
            0 => 0,
            n if n <= 160 => 1,
            n => n.div_ceil(153),
        };
        SmsShape {
            encoding: SmsEncoding::Gsm7,
            units: septets,
            segments,
            non_gsm,
        }
    } else {
        let units = text.encode_utf16().count();
        let segments = match units {
            0 => 0,
            n if n <= 70 => 1,
            n => n.div_ceil(67),
        };
        SmsShape {
            encoding: SmsEncoding::Ucs2,
            units,
            segments,
            non_gsm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_gsm7_and_splits_at_153() {
        assert_eq!(shape(&"a".repeat(160)).segments, 1);
        assert_eq!(shape(&"a".repeat(161)).segments, 2);
        assert_eq!(shape(&"a".repeat(306)).segments, 2);
        assert_eq!(shape(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_count_twice() {
        let s = shape("Pay €10");
        assert_eq!(s.encoding, SmsEncoding::Gsm7);
        assert_eq!(s.units, 8);
    }

    #[test]
    fn one_emoji_or_cjk_character_forces_ucs2() {
        let s = shape(&format!("{}😀", "a".repeat(60)));
        assert_eq!(s.encoding, SmsEncoding::Ucs2);
        assert_eq!(s.units, 62);
        assert_eq!(s.non_gsm, vec!['😀']);
        assert_eq!(shape(&"退".repeat(71)).segments, 2);
    }
}
