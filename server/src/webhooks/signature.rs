//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
//! bytes of the endpoint's `whsec_` secret. Receivers verify them with any Standard Webhooks library.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "whsec_";
/// Random bytes in a new secret: a full HMAC-SHA256 key.
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret, as shown to its owner: `whsec_` and the base64 of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut key = [0u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the operating system's random source failed");
        Self(format!("{PREFIX}{}", STANDARD.encode(key)))
    }

    /// Reads a secret in its shown form; `None` if it is not `whsec_` and base64.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (!key.is_empty()).then(|| Self(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> hmac::Key {
        let bytes = STANDARD
            .decode(&self.0[PREFIX.len()..])
            .expect("a Secret holds valid base64");
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    }

    /// The `v1,<base64>` signature of one delivery.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.key());
        context.update(message_id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(redacted)")
    }
}

/// The `webhook-signature` header: one signature per secret in force, space-separated (two during
/// the overlap after a rotation).
pub fn header(secrets: &[Secret], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test vector of the Standard Webhooks reference libraries.
    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signature = secret.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn new_secrets_are_random_full_length_keys() {
        let (first, second) = (Secret::generate(), Secret::generate());
        assert_ne!(first, second);
        let key = STANDARD.decode(&first.expose()[PREFIX.len()..]).unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
        assert_eq!(Secret::parse(first.expose()), Some(first));
    }

    #[test]
    fn refuses_what_is_not_a_secret() {
        for text in [
            "",
            "whsec_",
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "whsec_not base64!",
        ] {
            assert!(Secret::parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn during_a_rotation_both_secrets_sign() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let header = header(&[new.clone(), old.clone()], "evt_1", 1, b"{}");
        let signatures: Vec<_> = header.split(' ').collect();
        assert_eq!(
            signatures,
            [new.sign("evt_1", 1, b"{}"), old.sign("evt_1", 1, b"{}")]
        );
    }
}
