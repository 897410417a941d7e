//! `X-Request-Id`: honoured when the client sends a sane one, generated otherwise, echoed on every
//! response, and carried in problems and log lines.

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::ids::{self, RequestId};

pub const HEADER: &str = "x-request-id";

/// Accepts a client's id only when it is short and printable, so it is safe in headers and logs.
fn acceptable(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn layer<E: Endpoint>(next: E, mut request: Request) -> poem::Result<Response> {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| acceptable(value))
        .map_or_else(|| ids::new(ids::REQUEST), str::to_string);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.call(request).await.map(IntoResponse::into_response)?;
    response.headers_mut().insert(
        HEADER,
        HeaderValue::from_str(&id).expect("checked to be printable ASCII"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_unprintable_or_long_ids() {
        assert!(super::acceptable("abc-123"));
        assert!(!super::acceptable(""));
        assert!(!super::acceptable("with space"));
        assert!(!super::acceptable(&"x".repeat(129)));
    }
}
