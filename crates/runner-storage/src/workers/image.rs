//! Container image references and their identity (the image without its tag or digest).

use berth_core::{Error, Result};

/// The identity of `image` (`registry/path:tag` or `registry/path@sha256:…`): the reference
/// without its tag and digest. Workers of one identity share a service account.
///
/// ```
/// use berth_runner_storage::workers::image_identity;
/// assert_eq!(image_identity("ghcr.io/org/worker:v1").unwrap(), "ghcr.io/org/worker");
/// assert_eq!(image_identity("localhost:5000/w@sha256:ab").unwrap(), "localhost:5000/w");
/// assert!(image_identity("bad image").is_err());
/// ```
pub fn image_identity(image: &str) -> Result<&str> {
    if image.is_empty() || image.len() > 512 || image.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            "image",
            format!("{image:?} is not an image reference"),
        ));
    }
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let identity = match without_digest[last_slash..].rfind(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    if identity.is_empty() || identity.ends_with('/') {
        return Err(Error::invalid(
            "image",
            format!("{image:?} has no repository name"),
        ));
    }
    Ok(identity)
}

/// `image` as locked: an untagged reference gets `:latest`, so an image lock key never equals
/// an identity lock key (and nobody waits on a lock they already hold).
pub(crate) fn lock_image(image: &str) -> std::borrow::Cow<'_, str> {
    match image_identity(image) {
        Ok(identity) if identity == image => format!("{image}:latest").into(),
        _ => image.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_and_lock_images() {
        assert_eq!(image_identity("a/b:v1").ok(), Some("a/b"));
        assert_eq!(image_identity("reg:5000/a/b").ok(), Some("reg:5000/a/b"));
        assert_eq!(image_identity("reg:5000/a/b:v2").ok(), Some("reg:5000/a/b"));
        assert_eq!(image_identity("a/b@sha256:00").ok(), Some("a/b"));
        assert!(image_identity(":v1").is_err());
        assert!(image_identity("").is_err());
        assert_eq!(lock_image("a/b"), "a/b:latest");
        assert_eq!(lock_image("a/b:v1"), "a/b:v1");
    }
}
