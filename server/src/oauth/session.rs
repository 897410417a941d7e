//! The consent page's sign-in: once a workspace admin has proved who they are with an API key, a
//! cookie says so for a few minutes. The cookie is sealed with the deployment's secret key (so it
//! can be neither read nor forged, and any replica opens it) and carries a random CSRF token that
//! the consent form must repeat: a page on another site can make the browser send the cookie, but
//! cannot read the token out of our page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use poem::Request;
use poem::http::HeaderValue;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::sealing::Sealer;

/// Over HTTPS the cookie is `__Host-` prefixed: browsers then keep it only if it was set by this
/// very host, over HTTPS, for the whole site, so a sibling subdomain cannot plant one.
const SECURE_COOKIE: &str = "__Host-hoverbot_consent";
/// On plain HTTP (loopback, for development) the prefix is not allowed.
const COOKIE: &str = "hoverbot_consent";
/// How long a sign-in lasts.
const LIFETIME: Duration = Duration::minutes(15);
/// The associated data the cookie is sealed with, so no other sealed value opens as one.
const PURPOSE: &str = "oauth-consent-session";

/// Who signed in on the consent page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "w")]
    pub workspace_id: String,
    /// The API key the admin signed in with; checked again when they approve.
    #[serde(rename = "k")]
    pub key_id: String,
    #[serde(rename = "c")]
    pub csrf_token: String,
    /// Unix seconds.
    #[serde(rename = "e")]
    expires_at: i64,
}

impl Session {
    pub fn new(workspace_id: String, key_id: String) -> Self {
        let mut token = [0u8; 32];
        rand::rng().fill_bytes(&mut token);
        Self {
            workspace_id,
            key_id,
            csrf_token: URL_SAFE_NO_PAD.encode(token),
            expires_at: (Utc::now() + LIFETIME).timestamp(),
        }
    }

    /// The session of the request's cookie, if it has a live one.
    pub fn of(request: &Request, sealer: &Sealer, secure: bool) -> Option<Self> {
        let name = if secure { SECURE_COOKIE } else { COOKIE };
        let sealed = request
            .headers()
            .get_all(poem::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| {
                let (cookie, value) = pair.trim().split_once('=')?;
                (cookie == name).then_some(value)
            })?;
        let session: Self = serde_json::from_str(&sealer.open(PURPOSE, sealed).ok()?).ok()?;
        (session.expires_at > Utc::now().timestamp()).then_some(session)
    }

    /// Whether `token` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, token: &str) -> bool {
        self.csrf_token.as_bytes().ct_eq(token.as_bytes()).into()
    }

    /// The `Set-Cookie` value: only for this server, never to scripts, never on cross-site
    /// subrequests or form posts, and over HTTPS only when the page was.
    pub fn cookie(&self, sealer: &Sealer, secure: bool) -> HeaderValue {
        let sealed = sealer.seal(
            PURPOSE,
            &serde_json::to_string(self).expect("a session serializes"),
        );
        let (name, secure) = if secure {
            (SECURE_COOKIE, "; Secure")
        } else {
            (COOKIE, "")
        };
        HeaderValue::try_from(format!(
            "{name}={sealed}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            LIFETIME.num_seconds()
        ))
        .expect("base64 and ASCII attributes are header-safe")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_only_from_its_own_cookie() {
        let sealer = Sealer::new(&[3; 32]);
        let session = Session::new("ws_1".into(), "key_1".into());
        let cookie = session.cookie(&sealer, true);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.starts_with("__Host-") && cookie.ends_with("; Secure"));
        let value = cookie.split(';').next().unwrap();
        let request = Request::builder()
            .header("cookie", format!("other=1; {value}"))
            .finish();
        let opened = Session::of(&request, &sealer, true).unwrap();
        assert_eq!(opened.workspace_id, "ws_1");
        assert!(opened.csrf_matches(&session.csrf_token));
        assert!(!opened.csrf_matches("forged"));
        assert!(Session::of(&request, &Sealer::new(&[4; 32]), true).is_none());
        assert!(Session::of(&request, &sealer, false).is_none());
        // One byte of the sealed value changed: it no longer opens.
        let (name, sealed) = value.split_once('=').unwrap();
        let mut bytes = sealed.as_bytes().to_vec();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = Request::builder()
            .header(
                "cookie",
                format!("{name}={}", String::from_utf8(bytes).unwrap()),
            )
            .finish();
        assert!(Session::of(&tampered, &sealer, true).is_none());
    }
}
