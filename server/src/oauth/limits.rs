//! Rate limits of the OAuth endpoints, which no API token guards: every request is counted against
//! its client address, and what an app does at the token, revocation and introspection endpoints
//! (and each authorization request naming it) against the app too, so that neither one address nor
//! one app's leaked credentials can spend the server on guesses. Both share the API's limiter, so
//! replicas on PostgreSQL admit one quota between them; their keys (`oauth-addr:`, `oauth-app:`)
//! meet none of the API's.

use std::net::IpAddr;

use poem::http::{HeaderValue, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::OAuth;
use super::error::OAuthError;
use super::pages;
use crate::limits::Limit;
use crate::limits::gcra::Decision;

/// Requests one client address may make to `/oauth`: a person approving an app makes a handful,
/// an app's back end a few a minute.
pub const PER_ADDRESS: Limit = Limit {
    per_minute: 120,
    burst: 60,
};
/// Requests naming one app, from wherever they come: refreshes for many workspaces, in bursts.
pub const PER_APP: Limit = Limit {
    per_minute: 600,
    burst: 120,
};

impl OAuth {
    /// Whether `app_id` may make another request; the refusal to send otherwise.
    pub async fn admit_app(&self, app_id: &str) -> Result<(), OAuthError> {
        if !self.rate_limited {
            return Ok(());
        }
        let decision = self
            .limiter
            .check(&format!("oauth-app:{app_id}"), PER_APP)
            .await;
        refusal(&decision, "this app").map_or(Ok(()), Err)
    }
}

/// The 429 for a refused `decision`, or `None` when it admits; `who` is what is over its limit.
fn refusal(decision: &Decision, who: &str) -> Option<OAuthError> {
    (!decision.admitted).then(|| {
        let retry_after = decision.retry_after_ns.div_ceil(1_000_000_000);
        // RFC 6749 names no error for this; `temporarily_unavailable` is its word for an
        // overloaded server, which clients already handle.
        OAuthError::too_many_requests(
            format!("{who} is over its rate limit; retry in {retry_after} s"),
            retry_after,
        )
    })
}

/// The refusal as the authorization endpoint shows it to a browser: a page, with `Retry-After`.
pub fn page(refused: &OAuthError) -> Response {
    let mut page = pages::error(refused.status, &refused.description);
    if let Some(retry_after) = refused.retry_after {
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    page
}

/// Counts every request against its client address; a refused one gets 429, as an HTML page at
/// the authorization endpoint (a browser's) and as an OAuth error elsewhere (an app's).
pub async fn per_address<E: Endpoint>(
    next: E,
    request: Request,
    oauth: &OAuth,
) -> poem::Result<Response> {
    if oauth.rate_limited {
        let address = crate::forwarded::client_address(&request, oauth.trust_proxy)
            .map_or_else(|| "unknown".to_string(), |ip: IpAddr| ip.to_string());
        let decision = oauth
            .limiter
            .check(&format!("oauth-addr:{address}"), PER_ADDRESS)
            .await;
        if let Some(refused) = refusal(&decision, "this address") {
            if request.uri().path().ends_with("/authorize") {
                return Ok(page(&refused));
            }
            return Ok(refused.into_response());
        }
    }
    next.call(request).await.map(IntoResponse::into_response)
}
