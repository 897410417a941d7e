//! `GET` and `POST /oauth/authorize` (RFC 6749 §4.1.1, with the OAuth 2.1 rules): the workspace
//! admin's side of an install. The request is checked; a client or redirect URI that cannot be
//! trusted gets an error page, anything else wrong goes back to the app as `error`. The admin
//! signs in with an API key of the workspace that may manage keys, sees what the app asks for, and
//! approves (a single-use code goes back to the app) or denies (`access_denied`).
//!
//! The forms post back here with the request in hidden fields, and the request is checked again
//! each time: nothing about it is trusted from the browser. Posts from another site are refused
//! (`Origin`, `Sec-Fetch-Site`), and the consent form must carry the sign-in's CSRF token.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use url::Url;

use super::OAuth;
use super::apps::{redirect_uri_matches, redirect_uris};
use super::client::{Form, MAX_CLIENT_ID_BYTES};
use super::limits;
use super::pages::{self, Carried, ConsentPage, SignInPage};
use super::scopes;
use super::session::Session;
use crate::store::entity::oauth_app;
use crate::store::oauth_tokens::{self, NewCode};
use crate::store::scopes::decode_scopes;
use crate::store::tenant::WorkspaceId;
use crate::store::{api_keys, oauth_apps, oauth_installations, workspaces};
use hoverbot_api::Scope;

/// The longest `state` accepted; it is echoed back in a URL.
const MAX_STATE_CHARS: usize = 500;
/// The longest authorization request query: the longest legitimate one (a redirect URI, every
/// scope, a state, a challenge) is under 3 KiB.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// An authorization request that passed every check.
struct Authorization {
    app: oauth_app::Model,
    /// Where the answer goes.
    redirect_uri: String,
    /// Whether the request named it (then the token request must name it too).
    redirect_uri_given: bool,
    state: String,
    scopes: Vec<Scope>,
    code_challenge: String,
}

/// Why a request was refused.
enum Refused {
    /// The app or its redirect URI cannot be trusted: the admin is told, the browser stays here.
    Page(String),
    /// Sent back to the app (RFC 6749 §4.1.2.1).
    Back {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Authorization {
    async fn check(oauth: &OAuth, params: &Form) -> Result<Self, Refused> {
        let client_id = params.get("client_id").ok_or_else(|| {
            Refused::Page(
                "The request does not say which app it is for (client_id is missing).".into(),
            )
        })?;
        let unknown = || Refused::Page("No app with this client_id is registered here.".into());
        if client_id.len() > MAX_CLIENT_ID_BYTES {
            return Err(unknown());
        }
        let app = oauth_apps::find_live(&oauth.db, client_id)
            .await
            .map_err(|err| {
                tracing::error!("oauth: cannot load an app: {err}");
                Refused::Page("The server could not load the app; try again later.".into())
            })?
            .ok_or_else(unknown)?;
        let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
            Some(given) if redirect_uri_matches(&app, given) => (given.to_string(), true),
            Some(_) => {
                return Err(Refused::Page(format!(
                    "The redirect_uri is not a redirect URI registered for {}.",
                    app.name
                )));
            }
            None => match redirect_uris(&app).as_slice() {
                [only] => (only.clone(), false),
                _ => {
                    return Err(Refused::Page(format!(
                        "{} has several redirect URIs, so the request must name one \
                         (redirect_uri is missing).",
                        app.name
                    )));
                }
            },
        };
        let state = params.get("state").map(str::to_string);
        let back = |error: &'static str, description: String| Refused::Back {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
            description,
        };
        match params.get("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(back(
                    "unsupported_response_type",
                    "only response_type=code is supported".into(),
                ));
            }
            None => return Err(back("invalid_request", "response_type is missing".into())),
        }
        let Some(state_value) = state.as_deref() else {
            return Err(back("invalid_request", "state is missing".into()));
        };
        if state_value.chars().count() > MAX_STATE_CHARS
            || !state_value.chars().all(|c| (' '..='~').contains(&c))
        {
            return Err(back(
                "invalid_request",
                format!("state must be at most {MAX_STATE_CHARS} printable ASCII characters"),
            ));
        }
        match params.get("code_challenge_method") {
            Some("S256") => {}
            Some(_) => {
                return Err(back(
                    "invalid_request",
                    "only code_challenge_method=S256 is supported".into(),
                ));
            }
            None => {
                return Err(back(
                    "invalid_request",
                    "PKCE is required: send code_challenge and code_challenge_method=S256".into(),
                ));
            }
        }
        let code_challenge = params.get("code_challenge").unwrap_or_default();
        if code_challenge.len() != 43
            || !code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(back(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the code_verifier (43 \
                 characters)"
                    .into(),
            ));
        }
        let registered = decode_scopes(&app.scopes);
        let scopes = match params.get("scope") {
            None => registered.clone(),
            Some(asked) => scopes::parse(asked).map_err(|err| back("invalid_scope", err))?,
        };
        if let Some(extra) = scopes.iter().find(|scope| !registered.contains(scope)) {
            return Err(back(
                "invalid_scope",
                format!("{} is not registered for the scope `{extra}`", app.name),
            ));
        }
        Ok(Self {
            app,
            redirect_uri,
            redirect_uri_given,
            state: state_value.to_string(),
            scopes,
            code_challenge: code_challenge.to_string(),
        })
    }

    /// The request as the forms carry it.
    fn carried(&self) -> Carried {
        let mut carried = vec![
            ("response_type", "code".to_string()),
            ("client_id", self.app.id.clone()),
            ("scope", scopes::join(&self.scopes)),
            ("state", self.state.clone()),
            ("code_challenge", self.code_challenge.clone()),
            ("code_challenge_method", "S256".to_string()),
        ];
        if self.redirect_uri_given {
            carried.push(("redirect_uri", self.redirect_uri.clone()));
        }
        carried
    }
}

#[handler]
pub async fn show(request: &Request, Data(oauth): Data<&Arc<OAuth>>) -> Response {
    let query = request.uri().query().unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return pages::error(
            StatusCode::URI_TOO_LONG,
            "The authorization request is too long.",
        );
    }
    let params = match Form::parse(query.as_bytes()) {
        Ok(params) => params,
        Err(err) => return pages::error(StatusCode::BAD_REQUEST, &err.description),
    };
    let authorization = match Authorization::check(oauth, &params).await {
        Ok(authorization) => authorization,
        Err(refused) => return refuse(oauth, refused, StatusCode::FOUND),
    };
    if let Err(over) = oauth.admit_app(&authorization.app.id).await {
        return limits::page(&over);
    }
    match signed_in(oauth, request).await {
        Some((session, workspace_name)) => consent(&authorization, &session, &workspace_name),
        None => sign_in_page(&authorization, StatusCode::OK, None),
    }
}

#[handler]
pub async fn decide(request: &Request, body: Body, Data(oauth): Data<&Arc<OAuth>>) -> Response {
    if from_another_site(request, &oauth.issuer) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "This form was sent from another site. Go back to the app and start again.",
        );
    }
    let params = match Form::read(request, body).await {
        Ok(params) => params,
        Err(err) => return pages::error(StatusCode::BAD_REQUEST, &err.description),
    };
    let authorization = match Authorization::check(oauth, &params).await {
        Ok(authorization) => authorization,
        Err(refused) => return refuse(oauth, refused, StatusCode::SEE_OTHER),
    };
    match params.get("action") {
        Some("sign_in") => sign_in(oauth, request, &authorization, &params).await,
        Some(action @ ("approve" | "deny")) => {
            let Some((session, _)) = signed_in(oauth, request).await else {
                return sign_in_page(
                    &authorization,
                    StatusCode::UNAUTHORIZED,
                    Some("Your sign-in has expired or the key no longer works; sign in again."),
                );
            };
            let csrf = params.get("csrf_token").unwrap_or_default();
            if !session.csrf_matches(csrf) {
                return pages::error(
                    StatusCode::FORBIDDEN,
                    "This form did not come from the consent page HoverBot showed you (its \
                     security token does not match). Go back to the app and start again.",
                );
            }
            if action == "deny" {
                return back(
                    oauth,
                    &authorization.redirect_uri,
                    &[
                        ("error", "access_denied"),
                        (
                            "error_description",
                            "the workspace admin denied the request",
                        ),
                        ("state", &authorization.state),
                    ],
                    StatusCode::SEE_OTHER,
                );
            }
            approve(oauth, &authorization, &session).await
        }
        _ => pages::error(
            StatusCode::BAD_REQUEST,
            "The form was not sent by the consent page (no action).",
        ),
    }
}

async fn sign_in(
    oauth: &OAuth,
    request: &Request,
    authorization: &Authorization,
    params: &Form,
) -> Response {
    let key = params.get("api_key").unwrap_or_default().trim();
    // The consent page has no limiter in front of it, so every key presented is looked up.
    let principal = match oauth.auth.resolve(key, std::future::ready(true)).await {
        Ok(principal) => principal,
        Err(_) => {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server could not check the key; try again later.",
            );
        }
    };
    let admin = principal.filter(|principal| {
        principal.installation.is_none() && principal.scopes.contains(&Scope::KeysManage)
    });
    let Some(admin) = admin else {
        return sign_in_page(
            authorization,
            StatusCode::UNAUTHORIZED,
            Some("That is not a live API key with the keys:manage scope."),
        );
    };
    let session = Session::new(admin.workspace.as_str().to_string(), admin.key_id.clone());
    let secure = crate::forwarded::is_secure(request, oauth.trust_proxy);
    // Post, then redirect to the request's own page, which now shows the consent form.
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(authorization.carried())
        .finish();
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, format!("authorize?{query}"))
        .header(header::SET_COOKIE, session.cookie(&oauth.sealer, secure))
        .finish();
    pages::secure(&mut response);
    response
}

async fn approve(oauth: &OAuth, authorization: &Authorization, session: &Session) -> Response {
    let workspace = WorkspaceId::from_row(session.workspace_id.clone());
    let issued = async {
        let installation = oauth_installations::install(
            &oauth.db,
            &workspace,
            &authorization.app,
            &authorization.scopes,
        )
        .await?;
        oauth_tokens::issue_code(
            &oauth.db,
            NewCode {
                installation: &installation,
                redirect_uri: authorization
                    .redirect_uri_given
                    .then_some(authorization.redirect_uri.as_str()),
                scopes: &authorization.scopes,
                code_challenge: &authorization.code_challenge,
            },
        )
        .await
    };
    match issued.await {
        Ok(code) => back(
            oauth,
            &authorization.redirect_uri,
            &[("code", &code), ("state", &authorization.state)],
            StatusCode::SEE_OTHER,
        ),
        Err(err) => {
            tracing::error!("oauth: cannot record an approval: {err}");
            back(
                oauth,
                &authorization.redirect_uri,
                &[
                    ("error", "server_error"),
                    (
                        "error_description",
                        "the server could not record the approval",
                    ),
                    ("state", &authorization.state),
                ],
                StatusCode::SEE_OTHER,
            )
        }
    }
}

/// The signed-in admin and their workspace's name, when the cookie holds a live sign-in whose key
/// still works and may still manage keys.
async fn signed_in(oauth: &OAuth, request: &Request) -> Option<(Session, String)> {
    let secure = crate::forwarded::is_secure(request, oauth.trust_proxy);
    let session = Session::of(request, &oauth.sealer, secure)?;
    let workspace = WorkspaceId::from_row(session.workspace_id.clone());
    let key = api_keys::find_live(&oauth.db, &workspace, &session.key_id)
        .await
        .ok()??;
    if !decode_scopes(&key.scopes).contains(&Scope::KeysManage) {
        return None;
    }
    let name = workspaces::name(&oauth.db, &workspace).await.ok()??;
    Some((session, name))
}

fn consent(authorization: &Authorization, session: &Session, workspace_name: &str) -> Response {
    let redirect_host = Url::parse(&authorization.redirect_uri)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_else(|| authorization.redirect_uri.clone());
    pages::render(
        StatusCode::OK,
        &ConsentPage {
            app_name: &authorization.app.name,
            workspace_name,
            scopes: authorization
                .scopes
                .iter()
                .map(|scope| (scope.as_str(), scope.description()))
                .collect(),
            redirect_host: &redirect_host,
            request: &authorization.carried(),
            csrf_token: &session.csrf_token,
        },
    )
}

fn sign_in_page(
    authorization: &Authorization,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    pages::render(
        status,
        &SignInPage {
            app_name: &authorization.app.name,
            request: &authorization.carried(),
            problem,
        },
    )
}

fn refuse(oauth: &OAuth, refused: Refused, status: StatusCode) -> Response {
    match refused {
        Refused::Page(message) => pages::error(StatusCode::BAD_REQUEST, &message),
        Refused::Back {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut params = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            back(oauth, &redirect_uri, &params, status)
        }
    }
}

/// Sends the browser back to the app with `params` and `iss` (RFC 9207, so the app can tell
/// which server answered).
fn back(
    oauth: &OAuth,
    redirect_uri: &str,
    params: &[(&str, &str)],
    status: StatusCode,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(StatusCode::BAD_REQUEST, "The redirect URI is not a URL.");
    };
    url.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("iss", &oauth.issuer);
    let mut response = Response::builder()
        .status(status)
        .header(
            header::LOCATION,
            HeaderValue::try_from(url.as_str()).unwrap_or(HeaderValue::from_static("/")),
        )
        .finish();
    pages::secure(&mut response);
    response
}

/// Whether a post comes from a page of another site: browsers say so in `Sec-Fetch-Site` and
/// `Origin`. A post without either (not from a browser) is judged by the CSRF token alone.
fn from_another_site(request: &Request, issuer: &str) -> bool {
    if let Some(site) = request.header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    let Some(origin) = request.header(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = Url::parse(origin) else {
        return true;
    };
    let host = request.header(header::HOST).unwrap_or_default();
    let origin_host = match origin.port() {
        Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
        None => origin.host_str().unwrap_or_default().to_string(),
    };
    let ours = Url::parse(issuer)
        .map(|issuer| issuer.origin() == origin.origin())
        .unwrap_or(false);
    !(ours || origin_host.eq_ignore_ascii_case(host))
}
