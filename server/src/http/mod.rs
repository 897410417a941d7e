//! The layers every request passes through, outermost first: request id, access log, rate limits, problem
//! rendering, the SQLite write gate, idempotency keys, request-body validation against the spec; then
//! the generated router.

pub mod access_log;
pub mod idempotency;
pub mod operations;
pub mod problems;
pub mod request_id;
pub mod validation;
pub mod write_gate;
