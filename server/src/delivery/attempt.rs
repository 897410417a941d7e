//! One delivery attempt: a signed `POST` of an event to a receiver, and what came of it.
//!
//! The HTTP client is the outbound policy's (`outbound::Policy::client`), so a receiver whose name
//! resolves to a refused address at delivery time is not called (DNS rebinding), and it follows no
//! redirects; it waits at most
//! [`ATTEMPT_TIMEOUT`] and reads at most [`SNIPPET_BYTES`] of the response.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use url::Url;

use crate::outbound::{Policy, describe, literal_ip};
use crate::webhooks::ATTEMPT_TIMEOUT;
use crate::webhooks::signature::{self, Secret};

/// How much of a receiver's response is kept, for the delivery log.
pub const SNIPPET_BYTES: usize = 1024;

/// What came of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    pub duration: Duration,
    /// Why there is no status (refused address, connection error, timeout), for the log.
    pub error: Option<String>,
    /// The start of the response body, as text.
    pub snippet: String,
    /// The receiver's `Retry-After`, in seconds, on a 429 or 503.
    pub retry_after: Option<Duration>,
    /// What the receiver asked with `webhook-delivery`, if anything.
    pub control: Option<Control>,
}

/// What a receiver may ask of the sender with the `webhook-delivery` response header (the values
/// Standard Webhooks senders such as Svix honour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `abort-message`: no more attempts of this event.
    AbortMessage,
    /// `disable`: no more deliveries to this endpoint.
    Disable,
}

impl Control {
    /// The header's value, if it is one of the known ones (case and surrounding space aside).
    fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "abort-message" => Some(Self::AbortMessage),
            "disable" => Some(Self::Disable),
            _ => None,
        }
    }
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Sends attempts under the deployment's outbound policy.
pub struct Sender {
    client: reqwest::Client,
    policy: Policy,
}

impl Sender {
    pub fn new(policy: Policy) -> Self {
        let client = policy
            .client()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("HoverBot-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds");
        Self { client, policy }
    }

    /// The policy attempts are sent under, which registered URLs are checked against too.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// POSTs `body` to `url` as the event `message_id`, signed with every secret in force.
    pub async fn send(
        &self,
        url: &str,
        message_id: &str,
        secrets: &[Secret],
        body: &[u8],
    ) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome {
            status: None,
            duration: started.elapsed(),
            error: Some(error),
            snippet: String::new(),
            retry_after: None,
            control: None,
        };
        let url = match Url::parse(url) {
            Ok(url) => url,
            Err(err) => return failed(format!("the URL does not parse: {err}")),
        };
        // Literal addresses never reach the resolver: check them here.
        if let Some(ip) = literal_ip(&url).filter(|ip| !self.policy.allows(*ip)) {
            return failed(format!("refused: {ip} is not a public address"));
        }
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature::header(secrets, message_id, timestamp, body),
            )
            .header("Idempotency-Key", message_id)
            .body(body.to_vec());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => return failed(describe(&err, ATTEMPT_TIMEOUT)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let control = response
            .headers()
            .get("webhook-delivery")
            .and_then(|value| Control::parse(value.to_str().ok()?));
        let mut snippet = Vec::new();
        // A receiver that keeps talking past the cap is not waited for.
        while snippet.len() < SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        snippet.truncate(SNIPPET_BYTES);
        Outcome {
            status: Some(status),
            duration: started.elapsed(),
            error: None,
            snippet: String::from_utf8_lossy(&snippet).into_owned(),
            retry_after,
            control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Control;

    #[test]
    fn delivery_control_values_are_read_as_senders_in_the_wild_read_them() {
        assert_eq!(Control::parse("abort-message"), Some(Control::AbortMessage));
        assert_eq!(Control::parse(" Disable "), Some(Control::Disable));
        assert_eq!(Control::parse("pause"), None);
        assert_eq!(Control::parse(""), None);
    }
}
