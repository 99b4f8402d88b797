//! Hashes and signatures: content hashes of definitions, HMAC-SHA256 signatures of links
//! and webhook bodies, checked in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `data`, in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// HMAC-SHA256 of `message` under `secret`, in hex.
pub fn sign(secret: &[u8], message: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

/// Does `signature` (hex) sign `message` under `secret`? Compared in constant time.
pub fn verify(secret: &[u8], message: &[u8], signature: &str) -> bool {
    let Some(bytes) = unhex(signature) else {
        return false;
    };
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.verify_slice(&bytes).is_ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Are two secrets equal? Takes the same time whatever the first difference.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    // Digests first, so the comparison takes as long whatever the lengths and contents.
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    let diff = x
        .iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q));
    std::hint::black_box(diff) == 0
}

/// A token for a link that acts on one attempt (one-click unsubscribe, a survey answer):
/// the attempt's key and a signature, so a link cannot be forged for someone else.
pub fn link_token(secret: &[u8], key: &str) -> String {
    format!("{key}.{}", &sign(secret, key.as_bytes())[..32])
}

/// The attempt key of a link token, if its signature holds.
pub fn open_link_token<'a>(secret: &[u8], token: &'a str) -> Option<&'a str> {
    let (key, sig) = token.rsplit_once('.')?;
    let expected = &sign(secret, key.as_bytes())[..32];
    // Both are hex of the same length: compare every byte whatever the first difference.
    let same = expected.len() == sig.len()
        && expected
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_forgeries_do_not() {
        let sig = sign(b"secret", b"body");
        assert!(verify(b"secret", b"body", &sig));
        assert!(!verify(b"secret", b"body!", &sig));
        assert!(!verify(b"other", b"body", &sig));
        assert!(!verify(b"secret", b"body", "zz"));
    }

    #[test]
    fn link_tokens_open_only_with_their_own_signature() {
        let t = link_token(b"s", "hr1-c2-email-a1");
        assert_eq!(open_link_token(b"s", &t), Some("hr1-c2-email-a1"));
        assert_eq!(open_link_token(b"s", &t.replace("c2", "c3")), None);
        assert_eq!(open_link_token(b"x", &t), None);
    }

    #[test]
    fn content_hashes_are_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
