//! Verifying a delivery as a Standard Webhooks receiver does: `webhook-signature` holds one or more
//! space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>`, keyed
//! with the secret after its `whsec_` prefix, and the timestamp is recent. Written here because
//! the `standardwebhooks` crate would add a second HTTP and crypto stack for twenty lines.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Whether one of `signatures` signs `id`, `timestamp` and `body` under `secret`; why not.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now: i64,
) -> Result<(), String> {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|key| STANDARD.decode(key).ok())
        .ok_or("the endpoint's secret is not `whsec_` and base64")?;
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp `{timestamp}` is not Unix seconds"))?;
    if (now - sent_at).abs() > TOLERANCE_SECS {
        return Err(format!(
            "webhook-timestamp {sent_at} is {} s from the receiver's clock (at most {TOLERANCE_SECS})",
            now - sent_at
        ));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let matched = signatures
        .split(' ')
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .filter_map(|signature| STANDARD.decode(signature).ok())
        // ring compares in constant time.
        .any(|signature| hmac::verify(&key, &signed, &signature).is_ok());
    if matched {
        Ok(())
    } else {
        Err(format!(
            "no v1 signature in `{signatures}` matches the endpoint's secret"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: &str = "1614265330";
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn accepts_the_reference_signature_among_others() {
        let now = 1_614_265_330;
        assert_eq!(verify(SECRET, ID, TIMESTAMP, BODY, SIGNATURE, now), Ok(()));
        let two = format!("v1,AAAA {SIGNATURE}");
        assert_eq!(verify(SECRET, ID, TIMESTAMP, BODY, &two, now), Ok(()));
    }

    #[test]
    fn refuses_a_changed_body_id_or_stale_timestamp() {
        let now = 1_614_265_330;
        assert!(verify(SECRET, ID, TIMESTAMP, b"{}", SIGNATURE, now).is_err());
        assert!(verify(SECRET, "msg_other", TIMESTAMP, BODY, SIGNATURE, now).is_err());
        assert!(verify(SECRET, ID, TIMESTAMP, BODY, SIGNATURE, now + 301).is_err());
    }
}
