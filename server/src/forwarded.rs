//! What a request says of its client, believing a proxy only when the deployment trusts one: the
//! client's address and whether it reached us over HTTPS. The middleware and the OAuth pages both
//! ask.

use std::net::IpAddr;

use poem::Request;
use poem::http::uri::Scheme;

/// The client's address: the peer's, or, behind a proxy the deployment trusts, the one the
/// proxy saw. The proxy appends the address it accepted from to `X-Forwarded-For`, so the last
/// entry is the only one a client cannot forge.
pub fn client_address(request: &Request, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy
        && let Some(forwarded) = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return Some(forwarded);
    }
    request.remote_addr().as_socket_addr().map(|addr| addr.ip())
}

/// The scheme the nearest proxy saw: the last entry of `X-Forwarded-Proto`.
fn forwarded_https(request: &Request) -> bool {
    request
        .headers()
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .next_back()
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Whether the client reached us over HTTPS: on our own TLS, or through a trusted proxy that
/// says it was.
pub fn is_secure(request: &Request, trust_proxy: bool) -> bool {
    request.scheme() == &Scheme::HTTPS || (trust_proxy && forwarded_https(request))
}
