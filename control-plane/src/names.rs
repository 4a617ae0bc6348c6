//! Names users choose: deployments, environments, secret keys; and the
//! hostnames a deployment answers.
//!
//! A deployment `NAME` in the `production` environment answers
//! `NAME.<zone>`; in environment `ENV` it answers `NAME--ENV.<zone>`. Both
//! parts are therefore DNS labels that may not contain `--` themselves, and
//! `NAME--ENV` must fit in one label (63 bytes).

/// The environment a deployment goes to when none is named.
pub const PRODUCTION: &str = "production";

/// Longest deployment name.
pub const MAX_NAME_LEN: usize = 63;
/// Longest environment name.
pub const MAX_ENV_LEN: usize = 32;
/// Longest secret key.
pub const MAX_SECRET_KEY_LEN: usize = 128;

/// Checks a deployment name: 1 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit, without `--`.
pub fn check_deployment_name(name: &str) -> Result<(), String> {
    check_label("deployment name", name, MAX_NAME_LEN)
}

/// Checks an environment name: as a deployment name, at most 32 bytes.
pub fn check_env(env: &str) -> Result<(), String> {
    check_label("environment", env, MAX_ENV_LEN)
}

/// Checks that `NAME--ENV` fits in one DNS label.
pub fn check_hostname_fits(name: &str, env: &str) -> Result<(), String> {
    if env != PRODUCTION && name.len() + 2 + env.len() > 63 {
        return Err(format!(
            "'{name}--{env}' is longer than the 63 bytes a DNS label may have: use a shorter name or environment"
        ));
    }
    Ok(())
}

fn check_label(what: &str, s: &str, max: usize) -> Result<(), String> {
    let rule = format!(
        "use 1 to {max} lowercase letters, digits and '-', starting and ending with a letter or digit, without '--'"
    );
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if s.is_empty() || s.len() > max || !ok_chars || s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return Err(format!("invalid {what} '{}': {rule}", s.escape_debug()));
    }
    Ok(())
}

/// Checks a secret key: an identifier as JavaScript sees it on `env`
/// (`[A-Za-z_][A-Za-z0-9_]*`), at most 128 bytes.
pub fn check_secret_key(key: &str) -> Result<(), String> {
    let mut bytes = key.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || key.len() > MAX_SECRET_KEY_LEN || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "invalid secret key '{}': use letters, digits and '_', not starting with a digit, at most {MAX_SECRET_KEY_LEN} bytes",
            key.escape_debug()
        ));
    }
    Ok(())
}

/// The hostname deployment `name` answers in `env` under `zone`.
pub fn hostname(name: &str, env: &str, zone: &str) -> String {
    if env == PRODUCTION {
        format!("{name}.{zone}")
    } else {
        format!("{name}--{env}.{zone}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_names_are_dns_labels_without_double_dash() {
        for ok in ["a", "hello", "my-app-2", &"x".repeat(63)] {
            assert!(check_deployment_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Hello",
            "my_app",
            "-a",
            "a-",
            "a--b",
            "a.b",
            "ä",
            &"x".repeat(64),
            "../x",
        ] {
            let err = check_deployment_name(bad).unwrap_err();
            assert!(err.contains("invalid deployment name"), "{err}");
        }
    }

    #[test]
    fn hostnames_and_their_length() {
        assert_eq!(hostname("hello", "production", "localhost"), "hello.localhost");
        assert_eq!(
            hostname("hello", "staging", "example.com"),
            "hello--staging.example.com"
        );
        assert!(check_hostname_fits(&"a".repeat(60), "production").is_ok());
        assert!(check_hostname_fits(&"a".repeat(60), "dev").is_err());
    }

    #[test]
    fn secret_keys_are_identifiers() {
        for ok in ["API_KEY", "_x", "a1"] {
            assert!(check_secret_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "a\0"] {
            assert!(check_secret_key(bad).is_err(), "{bad:?}");
        }
    }
}
