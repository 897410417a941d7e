//! The pages of the authorization endpoint, rendered on the server from the templates in
//! `server/templates/oauth` (escaped by askama), with no external asset, script or frame.

use askama::Template;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};

/// No script, no frame, nothing loaded from elsewhere; the inline stylesheet is the page's own.
/// (No `form-action`: browsers apply it to the redirect back to the app after the form.)
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'";

/// The authorization request, carried through the forms as hidden fields.
pub type Carried = Vec<(&'static str, String)>;

#[derive(Template)]
#[template(path = "oauth/error.html")]
pub struct ErrorPage<'a> {
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "oauth/sign_in.html")]
pub struct SignInPage<'a> {
    pub app_name: &'a str,
    pub request: &'a Carried,
    pub problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "oauth/consent.html")]
pub struct ConsentPage<'a> {
    pub app_name: &'a str,
    pub workspace_name: &'a str,
    pub scopes: Vec<(&'static str, &'static str)>,
    pub redirect_host: &'a str,
    pub request: &'a Carried,
    pub csrf_token: &'a str,
}

/// `page` as an HTML response that is never cached, framed, or sent to another site as a referrer.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(err) => {
            tracing::error!("cannot render an authorization page: {err}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    secure(&mut response);
    response
}

/// The headers every response of the authorization endpoint carries.
pub fn secure(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it browsers send `Origin: null` with the page's own forms, which
    // could not be told from a post of an unknown page. No referrer leaves for the app either way.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// An error page: for what must not be sent back to the app (RFC 6749 §4.1.2.1).
pub fn error(status: StatusCode, message: &str) -> Response {
    render(status, &ErrorPage { message })
}
