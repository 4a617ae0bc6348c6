//! API tokens: what they may do ([`Scope`]), how they are made and how they
//! are stored (as a SHA-256 hash, never the token itself).
//!
//! A token is a prefix naming its kind and 32 random bytes in URL-safe
//! base64 (`op_admin_…`, `op_project_…`, `op_join_…`), so a leaked token is
//! recognisable by secret scanners. 256 random bits make a plain SHA-256
//! hash safe to store: there is nothing to guess.

use base64::Engine;
use ring::rand::SecureRandom;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything: every deployment, tokens, nodes.
    Admin,
    /// One deployment (by name), in every environment.
    Project(String),
    /// Joining a node to the cluster; no deploy API access.
    Join,
}

impl Scope {
    /// The scope's kind as stored: `admin`, `project` or `join`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Project(_) => "project",
            Scope::Join => "join",
        }
    }

    /// The project of a project scope.
    pub fn project(&self) -> Option<&str> {
        match self {
            Scope::Project(p) => Some(p),
            _ => None,
        }
    }

    /// Rebuilds a scope from its stored kind and project.
    pub fn from_parts(kind: &str, project: Option<String>) -> Option<Scope> {
        match (kind, project) {
            ("admin", _) => Some(Scope::Admin),
            ("join", _) => Some(Scope::Join),
            ("project", Some(p)) => Some(Scope::Project(p)),
            _ => None,
        }
    }

    /// Whether this scope may act on deployment `name`.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Project(p) => p == name,
            Scope::Join => false,
        }
    }
}

/// Why randomness could not be had.
#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed")]
pub struct RandomError;

/// Fills `out` from the system's cryptographic random number generator.
pub fn random_bytes(out: &mut [u8]) -> Result<(), RandomError> {
    ring::rand::SystemRandom::new().fill(out).map_err(|_| RandomError)
}

/// A new token for `scope`.
pub fn generate(scope: &Scope) -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(format!(
        "op_{}_{}",
        scope.kind(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The SHA-256 hash under which a token is stored and looked up.
pub fn hash(token: &str) -> [u8; 32] {
    crate::bundle::sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_stably() {
        let a = generate(&Scope::Admin).unwrap();
        let b = generate(&Scope::Admin).unwrap();
        assert!(a.starts_with("op_admin_") && a.len() == "op_admin_".len() + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(
            generate(&Scope::Project("x".into()))
                .unwrap()
                .starts_with("op_project_")
        );
    }

    #[test]
    fn scopes_allow_their_own_project_only() {
        assert!(Scope::Admin.allows("x"));
        assert!(Scope::Project("x".into()).allows("x"));
        assert!(!Scope::Project("x".into()).allows("y"));
        assert!(!Scope::Join.allows("x"));
        assert_eq!(
            Scope::from_parts("project", Some("x".into())),
            Some(Scope::Project("x".into()))
        );
        assert_eq!(Scope::from_parts("project", None), None);
    }
}
