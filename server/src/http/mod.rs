//! The layers every request passes through, outermost first: request id, the caller (the bearer
//! token resolved once), access log (and metrics), HTTPS enforcement, rate limits, problem
//! rendering, authorization (a caller refused before its body is read), idempotency keys,
//! request-body validation against the spec, the wording of refused parameters; then the generated
//! router.

pub mod access_log;
pub mod authorization;
pub mod availability;
pub mod caller;
pub mod idempotency;
pub mod operations;
pub mod parameters;
pub mod problems;
pub mod rate_limit;
pub mod request_id;
mod schema_errors;
pub mod transport_security;
pub mod validation;
