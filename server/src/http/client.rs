//! The client's address: the peer's, or, behind a proxy the deployment trusts, the one the proxy
//! saw. The proxy appends the address it accepted from to `X-Forwarded-For`, so the last entry is
//! the only one a client cannot forge.

use std::net::IpAddr;

use poem::Request;

pub fn address(request: &Request, trust_proxy: bool) -> Option<IpAddr> {
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
