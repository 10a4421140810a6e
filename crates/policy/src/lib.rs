//! Pure decision logic: `(spec, previous state, observation, now) -> (new state, verdict)`.
//!
//! No I/O and no clock reads: the operator passes the time in (milliseconds since the epoch) and
//! persists the state in the resource's status, so a restart or a new leader resumes exactly.

pub mod etcd;
pub mod format;
pub mod offload;
