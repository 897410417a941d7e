//! What an app may be registered with: its name, redirect URIs and scopes, checked before it is
//! stored, so that the authorization endpoint only compares strings; and how a redirect URI of a
//! request is matched to the registered ones.

use url::Url;

use crate::store::entity::oauth_app;
use crate::store::oauth_apps::Registration;
use hoverbot_api::Scope;

/// The most redirect URIs one app registers.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI accepted.
const MAX_REDIRECT_URI_BYTES: usize = 2_000;
/// The longest app name, in characters (shown on the consent page).
const MAX_NAME_CHARS: usize = 100;

/// What is wrong with a registration: the field (a JSON pointer into the API's request body) and
/// what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub pointer: &'static str,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn invalid(pointer: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        pointer,
        message: message.into(),
    }
}

/// Checks a registration; the error says what is wrong, for the operator.
pub fn check(
    name: &str,
    redirect_uris: &[String],
    scopes: &[Scope],
    confidential: bool,
) -> Result<Registration, Invalid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "/name",
            format!("the name must have 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(|c| c.is_control() || is_format(c)) {
        return Err(invalid(
            "/name",
            "the name must not contain control or invisible formatting characters",
        ));
    }
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(
            "/redirectUris",
            format!("give 1 to {MAX_REDIRECT_URIS} redirect URIs"),
        ));
    }
    let mut unique = Vec::with_capacity(redirect_uris.len());
    for uri in redirect_uris {
        check_redirect_uri(uri, confidential)
            .map_err(|message| invalid("/redirectUris", message))?;
        if !unique.contains(uri) {
            unique.push(uri.clone());
        }
    }
    if scopes.is_empty() {
        return Err(invalid("/scopes", "give at least one scope"));
    }
    // An app that could manage keys could mint API keys that outlive its uninstall, and
    // approve itself more scopes with them: installs grant data access, not administration.
    if scopes.contains(&Scope::KeysManage) {
        return Err(invalid(
            "/scopes",
            "apps cannot be granted keys:manage; a workspace's keys are its admins' alone",
        ));
    }
    Ok(Registration {
        name: name.to_string(),
        redirect_uris: unique,
        scopes: scopes.to_vec(),
        confidential,
    })
}

/// The app's registered redirect URIs.
pub fn redirect_uris(app: &oauth_app::Model) -> Vec<String> {
    serde_json::from_str(&app.redirect_uris).unwrap_or_else(|err| {
        tracing::error!(app = %app.id, "the stored redirect URIs are not a JSON array: {err}");
        Vec::new()
    })
}

/// Whether `given` is one of the app's redirect URIs: the same string, except that an `http` URI
/// to a loopback address matches whatever its port, since a native app listens on a port the
/// system gives it at the time of the request (RFC 8252 §7.3).
pub fn redirect_uri_matches(app: &oauth_app::Model, given: &str) -> bool {
    let registered = redirect_uris(app);
    if registered.iter().any(|uri| uri == given) {
        return true;
    }
    let Some(given) = loopback_without_port(given) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|uri| loopback_without_port(uri))
        .any(|uri| uri == given)
}

/// An `http` URI to a loopback address, in normal form, without its port.
fn loopback_without_port(uri: &str) -> Option<String> {
    let mut url = Url::parse(uri).ok()?;
    let loopback = match url.host()? {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(_) => false,
    };
    // Only a URI in normal form is compared, as registration requires of the registered ones.
    if url.scheme() != "http" || !loopback || url.as_str() != uri {
        return None;
    }
    url.set_port(None).ok()?;
    Some(url.into())
}

/// Invisible characters that change how the text around them reads (bidirectional overrides and
/// isolates, zero-width characters): a consent page must show the name the user will recognise.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A redirect URI is an absolute URI without a fragment (RFC 6749 §3.1.2), compared later as a
/// string, so it must be registered exactly as the app sends it. It is `https`, or `http` to a
/// loopback IP literal for an app running on the user's machine (RFC 8252 §7.3; `localhost` is
/// refused, as §8.3 advises). A public (native) app may also use a private-use scheme in
/// reverse-domain form, such as `com.example.app:/callback` (RFC 8252 §7.1).
fn check_redirect_uri(uri: &str, confidential: bool) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err(format!(
            "a redirect URI may have at most {MAX_REDIRECT_URI_BYTES} bytes"
        ));
    }
    let parsed = Url::parse(uri).map_err(|err| format!("`{uri}` is not an absolute URI: {err}"))?;
    if parsed.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment, which a redirect URI must not have"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("`{uri}` has credentials in it"));
    }
    // Compared as strings: the form the URL parser would normalise it to must be the form given,
    // or a client sending either would be refused half the time.
    if parsed.as_str() != uri {
        return Err(format!(
            "`{uri}` is not in normal form; register it as `{}`",
            parsed.as_str()
        ));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(format!(
                "`{uri}`: plain http is allowed only to a loopback address (127.0.0.1 or [::1])"
            )),
        },
        scheme if !confidential && scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "`{uri}`: the scheme `{scheme}` is not allowed; use https, http to a loopback \
             address, or (for public apps) a private-use scheme such as com.example.app"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(uris: &[&str], confidential: bool) -> Result<Registration, Invalid> {
        let uris: Vec<String> = uris.iter().map(|uri| uri.to_string()).collect();
        check(
            "CRM connector",
            &uris,
            &[Scope::ConversationsRead],
            confidential,
        )
    }

    #[test]
    fn redirect_uris_are_https_loopback_or_a_native_apps_own_scheme() {
        for uri in [
            "https://crm.example.com/oauth/callback",
            "https://crm.example.com/cb?tenant=eu",
            "http://127.0.0.1:8123/callback",
            "http://[::1]:8123/callback",
        ] {
            assert!(register(&[uri], true).is_ok(), "{uri}");
        }
        assert!(register(&["com.example.crm:/oauth"], false).is_ok());
        for uri in [
            "com.example.crm:/oauth",
            "http://crm.example.com/callback",
            "http://localhost:8123/callback",
            "https://crm.example.com/callback#top",
            "https://user:pass@crm.example.com/callback",
            "https://CRM.example.com/callback",
            "/callback",
            "javascript:alert(1)",
        ] {
            assert!(register(&[uri], true).is_err(), "{uri}");
        }
    }

    #[test]
    fn a_loopback_redirect_matches_on_any_port_and_nothing_else_does() {
        let app = oauth_app::Model {
            id: "app_1".into(),
            name: "CLI".into(),
            redirect_uris: serde_json::to_string(&[
                "http://127.0.0.1/callback",
                "https://crm.example.com/cb",
            ])
            .unwrap(),
            scopes: "conversations:read".into(),
            confidential: false,
            secret_prefix: None,
            secret_hash: None,
            created_at: chrono::Utc::now(),
            revoked_at: None,
        };
        assert!(redirect_uri_matches(&app, "https://crm.example.com/cb"));
        assert!(redirect_uri_matches(
            &app,
            "http://127.0.0.1:53682/callback"
        ));
        assert!(redirect_uri_matches(&app, "http://127.0.0.1/callback"));
        for other in [
            "https://crm.example.com:8443/cb",
            "https://crm.example.com/cb/",
            "https://crm.example.com/cb?x=1",
            "http://127.0.0.1:53682/other",
            "http://127.0.0.2:53682/callback",
            "http://127.0.0.1:53682/callback#x",
        ] {
            assert!(!redirect_uri_matches(&app, other), "{other}");
        }
    }

    #[test]
    fn a_registration_has_a_name_some_uris_and_some_scopes() {
        assert!(
            check(
                "",
                &["https://a.example/cb".into()],
                &[Scope::ConversationsRead],
                true
            )
            .is_err()
        );
        assert!(check("A", &[], &[Scope::ConversationsRead], true).is_err());
        for name in ["Good\u{202E}ppA", "Zero\u{200B}width", "Tab\tbed"] {
            assert!(
                check(
                    name,
                    &["https://a.example/cb".into()],
                    &[Scope::ConversationsRead],
                    true
                )
                .is_err(),
                "{name:?}"
            );
        }
        assert!(check("A", &["https://a.example/cb".into()], &[], true).is_err());
        let admin = check(
            "A",
            &["https://a.example/cb".into()],
            &[Scope::ConversationsRead, Scope::KeysManage],
            true,
        );
        assert_eq!(admin.unwrap_err().pointer, "/scopes");
        let many: Vec<String> = (0..=MAX_REDIRECT_URIS)
            .map(|i| format!("https://a.example/cb{i}"))
            .collect();
        assert!(check("A", &many, &[Scope::ConversationsRead], true).is_err());
        let twice = register(&["https://a.example/cb", "https://a.example/cb"], true).unwrap();
        assert_eq!(
            twice.redirect_uris,
            vec!["https://a.example/cb".to_string()]
        );
    }
}
