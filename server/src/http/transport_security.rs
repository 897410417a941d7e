//! HTTPS only. Behind a trusted proxy, a `/v1` or `/oauth` request that the proxy received over plain HTTP
//! (`X-Forwarded-Proto` is not `https`) is refused with 403 `tls_required` before anything else
//! looks at it, and every response that travels over HTTPS carries HSTS, so browsers stop trying
//! plain HTTP. Without TLS or a proxy the server only listens on loopback (see the configuration).

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::problems;
use crate::forwarded::is_secure;
use crate::ids::RequestId;
use crate::problem::Problem;

/// Two years, the usual preload-list value.
const HSTS: &str = "max-age=63072000";

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    trust_proxy: bool,
) -> poem::Result<Response> {
    let secure = is_secure(&request, trust_proxy);
    // OAuth carries admins' keys, client secrets, codes and tokens: HTTPS only too (RFC 6749 §3.1).
    let path = request.uri().path();
    let guarded = path.starts_with("/v1/") || path.starts_with("/oauth/");
    let mut response = if trust_proxy && !secure && guarded {
        let request_id = RequestId::of(&request);
        let problem = Problem::new(
            StatusCode::FORBIDDEN,
            "tls_required",
            "the API is served over HTTPS only; send this request to the https:// address",
        );
        problems::render(&problem, &request_id)
    } else {
        next.call(request).await.map(IntoResponse::into_response)?
    };
    if secure {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    Ok(response)
}
