//! The layers every request passes through, outermost first: request id, problem rendering,
//! request-body validation against the spec; then the generated router.

pub mod operations;
pub mod problems;
pub mod request_id;
pub mod validation;
