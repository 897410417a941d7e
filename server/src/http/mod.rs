//! The layers every request passes through, outermost first: request id, rate limits, problem
//! rendering, idempotency keys, request-body validation against the spec; then the generated router.

pub mod idempotency;
pub mod operations;
pub mod problems;
pub mod request_id;
pub mod validation;
