//! Keyed locks for the worker registry and instance secrets: in process, or lease-backed
//! across processes and hosts.

mod in_process;
mod key_lock;
mod lease;
mod mode;

pub use in_process::InProcessLock;
pub use key_lock::{HeldKeys, KeyLock, LockGuard};
pub use lease::{lease_name, LeaseKeyLock, LeaseLockConfig};
pub use mode::LockMode;
