//! The delivery engine: the worker that claims due deliveries from the outbox and sends their
//! attempts, and the sender of one signed attempt. What delivery promises (the schedule, the
//! signature, the timeout) is in [`crate::webhooks`], below the store that schedules by it.

pub mod attempt;
pub mod shares;
pub mod worker;
