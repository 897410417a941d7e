//! Secrets (API keys `hb_live_…`, OAuth client secrets `hb_cs_…`, codes and tokens `hb_ac_…`,
//! `hb_at_…`, `hb_rt_…`, operator keys `hb_op_…`): a prefix and 256 random bits;
//! at rest only their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "hb_live_";
/// How much of a secret is kept in the clear, so people can tell their keys apart.
const SHOWN_CHARS: usize = 12;
/// Longer bearer tokens are refused before hashing.
pub const MAX_TOKEN_LEN: usize = 256;

pub struct NewSecret {
    pub secret: String,
    pub hash: String,
    pub prefix: String,
}

/// A new API key secret.
pub fn generate() -> NewSecret {
    generate_with(PREFIX)
}

/// A new secret: `prefix` and 256 random bits.
pub fn generate_with(prefix: &str) -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewSecret {
        hash: hash(&secret),
        prefix: secret[..SHOWN_CHARS].to_string(),
        secret,
    }
}

/// Lower-case hex SHA-256 of the secret. On every request's path (the rate limiter keys by it), so
/// it writes the digits itself rather than formatting each byte.
pub fn hash(secret: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = Vec::with_capacity(64);
    for byte in Sha256::digest(secret.as_bytes()) {
        hex.extend_from_slice(&[
            DIGITS[usize::from(byte >> 4)],
            DIGITS[usize::from(byte & 0x0f)],
        ]);
    }
    String::from_utf8(hex).expect("hex digits are ASCII")
}

/// Whether `stored` is the hash of `secret`, compared in constant time.
pub fn matches(stored: &str, secret: &str) -> bool {
    stored.as_bytes().ct_eq(hash(secret).as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_verify_only_themselves() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(PREFIX) && a.secret.len() == PREFIX.len() + 43);
        assert!(matches(&a.hash, &a.secret));
        assert!(!matches(&a.hash, &b.secret));
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
