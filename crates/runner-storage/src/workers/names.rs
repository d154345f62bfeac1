//! Collection names and lock keys of the worker registry (as in seed 000).

/// Workers of `project`.
pub fn workers(project: &str) -> String {
    format!("workers:{project}")
}

/// Service accounts of `project`.
pub fn service_accounts(project: &str) -> String {
    format!("service-accounts:{project}")
}

/// API keys of `project` (encrypt `api-keys:*`).
pub fn api_keys(project: &str) -> String {
    format!("api-keys:{project}")
}

/// Unit worker registrations of `project`.
pub fn registrations(project: &str) -> String {
    format!("worker-registrations:{project}")
}

/// The registrations served by worker `worker` (keys only, empty values).
pub fn registration_index(project: &str, worker: &str) -> String {
    format!("worker-registration-index:{project}:{worker}")
}

/// Lock key of an image or an image identity.
pub fn image_lock(project: &str, image_or_identity: &str) -> String {
    format!("worker-image:{project}:{image_or_identity}")
}
