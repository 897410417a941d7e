//! Signed, expiring links to a conversation's transcript, for webhook receivers that hold no API
//! key (the `transcriptUrl` of `lead.qualified`). The token names the workspace, the conversation
//! and the expiry, and carries an HMAC-SHA256 of them under a key derived from the deployment's
//! secret, so every replica accepts every replica's links and nothing is stored. Rotating the
//! secret revokes every link.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use ring::hmac;
use url::Url;

use crate::sealing::Sealer;
use crate::store::tenant::WorkspaceId;

/// How long a link opens after it was issued: long enough for a receiver that gets the event after
/// a day of retries, short enough that a leaked link does not open forever.
pub const LIFETIME: TimeDelta = TimeDelta::days(7);
/// The path the links point at (the spec's `getSharedTranscript`).
const PATH: &str = "/v1/shared-transcripts/";
/// The token format's version, signed with the rest.
const VERSION: &str = "t1";

/// Issues and checks transcript links.
pub struct TranscriptLinks {
    key: hmac::Key,
    /// The deployment's public base URL, which links start with.
    base: Url,
}

/// What a valid token opens.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    pub workspace: WorkspaceId,
    pub conversation_id: String,
}

/// Why a token does not open.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a token this deployment signed (or not a token at all).
    Invalid,
    /// Signed here, but past its expiry.
    Expired(DateTime<Utc>),
}

impl TranscriptLinks {
    pub fn new(sealer: &Sealer, base: Url) -> Self {
        Self {
            key: sealer.derive_hmac_key("transcript links v1"),
            base,
        }
    }

    /// A link to the conversation's transcript, valid for [`LIFETIME`] from `now`.
    pub fn issue(&self, workspace: &str, conversation_id: &str, now: DateTime<Utc>) -> String {
        let expires = (now + LIFETIME).timestamp();
        let claims =
            URL_SAFE_NO_PAD.encode(format!("{VERSION}.{workspace}.{conversation_id}.{expires}"));
        let signature = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, claims.as_bytes()));
        let mut url = self.base.clone();
        let path = format!(
            "{}{PATH}{claims}.{signature}",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        url.to_string()
    }

    /// What `token` opens at `now`. The signature is checked first, in constant time, so that a
    /// forged token learns nothing from the answer.
    pub fn open(&self, token: &str, now: DateTime<Utc>) -> Result<Opened, Refused> {
        let (claims, signature) = token.split_once('.').ok_or(Refused::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Refused::Invalid)?;
        hmac::verify(&self.key, claims.as_bytes(), &signature).map_err(|_| Refused::Invalid)?;
        // Signed by us: what follows can only fail if the format changed without a new version.
        let claims = URL_SAFE_NO_PAD
            .decode(claims)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(Refused::Invalid)?;
        let [version, workspace, conversation_id, expires] = claims
            .split('.')
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| Refused::Invalid)?;
        let expires = expires
            .parse()
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .filter(|_| version == VERSION)
            .ok_or(Refused::Invalid)?;
        if now >= expires {
            return Err(Refused::Expired(expires));
        }
        Ok(Opened {
            workspace: WorkspaceId::from_row(workspace.to_string()),
            conversation_id: conversation_id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealing::KEY_BYTES;

    fn links(secret: u8) -> TranscriptLinks {
        TranscriptLinks::new(
            &Sealer::new(&[secret; KEY_BYTES]),
            Url::parse("https://api.example.com/hoverbot/").unwrap(),
        )
    }

    fn token(link: &str) -> &str {
        link.rsplit('/').next().unwrap()
    }

    #[test]
    fn a_link_opens_its_conversation_until_it_expires() {
        let now = Utc::now();
        let link = links(1).issue("ws_1", "conv_1", now);
        assert!(
            link.starts_with("https://api.example.com/hoverbot/v1/shared-transcripts/"),
            "{link}"
        );
        let opened = links(1).open(token(&link), now + LIFETIME / 2).unwrap();
        assert_eq!(opened.workspace.as_str(), "ws_1");
        assert_eq!(opened.conversation_id, "conv_1");
        let expired = links(1).open(token(&link), now + LIFETIME).unwrap_err();
        assert!(matches!(expired, Refused::Expired(_)), "{expired:?}");
    }

    #[test]
    fn a_link_of_another_secret_or_a_changed_token_does_not_open() {
        let now = Utc::now();
        let link = links(1).issue("ws_1", "conv_1", now);
        assert_eq!(links(2).open(token(&link), now), Err(Refused::Invalid));
        // Another conversation's claims under this signature.
        let other = links(1).issue("ws_1", "conv_2", now);
        let (claims, _) = token(&other).split_once('.').unwrap();
        let (_, signature) = token(&link).split_once('.').unwrap();
        let forged = format!("{claims}.{signature}");
        assert_eq!(links(1).open(&forged, now), Err(Refused::Invalid));
        for garbage in ["", ".", "abc", "abc.def", "%%%.%%%"] {
            assert_eq!(
                links(1).open(garbage, now),
                Err(Refused::Invalid),
                "{garbage}"
            );
        }
    }
}
