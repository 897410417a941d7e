//! What the token, revocation and introspection endpoints share: reading their form body, and
//! authenticating the app that calls them (RFC 6749 §2.3: `client_secret_basic`,
//! `client_secret_post`, or `none` for a public app, which proves itself with PKCE instead).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::http::header;
use poem::{Body, Request};

use super::error::OAuthError;
use crate::secrets;
use crate::store::entity::oauth_app;

/// The largest form body read; the longest legitimate one (a code, a verifier, a redirect URI and
/// a client secret) is well under 4 KiB.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Longer client ids are refused before any lookup (ids are `app_` and 26 characters).
pub const MAX_CLIENT_ID_BYTES: usize = 100;

/// The parameters of a form body, each given at most once (RFC 6749 §3.2).
pub struct Form(HashMap<String, String>);

impl Form {
    pub async fn read(request: &Request, body: Body) -> Result<Self, OAuthError> {
        let content_type = request.content_type().unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = body.into_bytes_limit(MAX_FORM_BYTES).await.map_err(|_| {
            OAuthError::invalid_request(format!("the body must be at most {MAX_FORM_BYTES} bytes"))
        })?;
        Self::parse(&bytes)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if value.contains('\0') {
                return Err(OAuthError::invalid_request(format!(
                    "`{name}` contains a NUL character"
                )));
            }
            // An empty parameter is treated as omitted (RFC 6749 §3.1).
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(format!(
                    "`{name}` is given more than once"
                )));
            }
        }
        Ok(Self(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("`{name}` is missing")))
    }
}

/// The credentials a client presented.
struct Presented {
    client_id: String,
    secret: Option<String>,
    /// Through the `Authorization` header.
    basic: bool,
}

fn presented(request: &Request, form: &Form) -> Result<Presented, OAuthError> {
    let basic = match request.header(header::AUTHORIZATION) {
        Some(value) => Some(read_basic(value).ok_or_else(|| {
            OAuthError::invalid_client(
                "the Authorization header is not valid Basic credentials",
                true,
            )
        })?),
        None => None,
    };
    match basic {
        Some((client_id, secret)) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one way of authenticating the client, not both the Authorization \
                     header and client_secret",
                ));
            }
            if form.get("client_id").is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the one in the Authorization header",
                ));
            }
            Ok(Presented {
                client_id,
                secret: Some(secret),
                basic: true,
            })
        }
        None => Ok(Presented {
            client_id: form.require("client_id")?.to_string(),
            secret: form.get("client_secret").map(str::to_string),
            basic: false,
        }),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn read_basic(value: &str) -> Option<(String, String)> {
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(credentials.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // Each part is form-urlencoded on its own: `+` is a space, `%XX` a byte, and `&` or `=` just
    // characters.
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

/// The live app that is calling, or `invalid_client`. A confidential app must present its secret;
/// a public app must present none (it has none to present).
pub async fn authenticate(
    db: &impl sea_orm::ConnectionTrait,
    request: &Request,
    form: &Form,
) -> Result<oauth_app::Model, OAuthError> {
    let presented = presented(request, form)?;
    let refuse = || OAuthError::invalid_client("client authentication failed", presented.basic);
    if presented.client_id.len() > MAX_CLIENT_ID_BYTES {
        return Err(refuse());
    }
    let app = crate::store::oauth_apps::find_live(db, &presented.client_id)
        .await?
        .ok_or_else(refuse)?;
    match (&app.secret_hash, &presented.secret) {
        (Some(hash), Some(given)) if secrets::matches(hash, given) => Ok(app),
        (None, None) => Ok(app),
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_inside_base64() {
        let header = format!("Basic {}", STANDARD.encode("app_1:s%3Acret+x"));
        assert_eq!(
            read_basic(&header),
            Some(("app_1".to_string(), "s:cret x".to_string()))
        );
        let header = format!("Basic {}", STANDARD.encode("app_1:a&b=c"));
        assert_eq!(
            read_basic(&header),
            Some(("app_1".to_string(), "a&b=c".to_string()))
        );
        assert_eq!(read_basic("Bearer abc"), None);
        assert_eq!(read_basic("Basic !!!"), None);
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        assert!(Form::parse(b"grant_type=a&grant_type=b").is_err());
        let form = Form::parse(b"grant_type=refresh_token&scope=").unwrap();
        assert_eq!(form.get("grant_type"), Some("refresh_token"));
        assert_eq!(form.get("scope"), None);
        assert!(Form::parse(b"code=a%00b").is_err());
    }
}
