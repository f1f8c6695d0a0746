//! The effective configuration as a TOML file (`sessiond check-config`): what the daemon would
//! run with, in the syntax the loader accepts, so it can be saved and used. Secrets stay out:
//! a password inside a URL becomes `***`, and a secret key becomes a comment naming the
//! environment variable to set it with.

use crate::config::{ENV_PREFIX, REDACTED, Settings};

/// `settings` as a TOML document that loads back to the same settings, except that every
/// secret is left out (commented, with its environment variable) and URL passwords are `***`.
pub fn to_toml(settings: &Settings) -> Result<String, String> {
    // A `Secret` serializes as `REDACTED` and a `SecretUrl` with its password as `***`, always.
    let text = toml::to_string(settings).map_err(|e| format!("cannot write the configuration as TOML: {e}"))?;
    let secret = toml_escaped_placeholder();
    let mut out = String::with_capacity(text.len());
    let mut table = String::new();
    let mut in_array = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_array = line.starts_with("[[");
            table = line.trim_matches(|c| c == '[' || c == ']').to_owned();
        }
        match line.split_once(" = ") {
            // An entry of a `[[list]]` has no environment variable: its secret goes here.
            Some((key, value)) if value.trim() == secret && in_array => {
                out.push_str(&format!("# {key} = (secret, not shown; write it here)\n"));
            }
            Some((key, value)) if value.trim() == secret => {
                let path = if table.is_empty() {
                    key.to_owned()
                } else {
                    format!("{table}.{key}")
                };
                let var = format!("{ENV_PREFIX}{}", path.replace('.', "__").to_ascii_uppercase());
                out.push_str(&format!("# {key} = (secret, not shown; set it with {var})\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// A secret's value as the TOML writer writes it: the whole string is the placeholder.
fn toml_escaped_placeholder() -> String {
    format!("\"{REDACTED}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(path: Option<&std::path::Path>, vars: &[(&str, &str)]) -> Settings {
        Settings::load_with_env(path, env(vars)).expect("load")
    }

    #[test]
    fn defaults_print_in_the_syntax_the_loader_takes_and_load_back() {
        let defaults = load(None, &[]);
        let text = to_toml(&defaults).expect("toml");
        assert!(text.contains("absolute_timeout = \"365d\""), "{text}");
        assert!(text.contains("request_timeout = \"30s\""), "{text}");
        assert!(text.contains("default = \"10/minute\""), "{text}");
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("effective.toml");
        std::fs::write(&file, &text).expect("write");
        assert_eq!(format!("{:?}", load(Some(&file), &[])), format!("{defaults:?}"));
    }

    #[test]
    fn secrets_are_left_out_and_come_back_from_the_environment() {
        let secrets: &[(&str, &str)] = &[
            ("SESSIOND_AUDIT__HMAC_KEY", "0123456789abcdef-hmac"),
            ("SESSIOND_AUDIT__PREVIOUS_HMAC_KEYS__K0", "old-key-0123456789"),
            ("SESSIOND_STORAGE__S3__SECRET_ACCESS_KEY", "s3cr3t-key"),
            ("SESSIOND_STORAGE__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ];
        let mut vars = secrets.to_vec();
        vars.extend([
            ("SESSIOND_DATABASE__URL", "postgres://admin:hunter2@db/sessiond"),
            ("SESSIOND_EMAIL__SMTP_URL", "smtp://mailer:mailpw@smtp.example:587"),
            ("SESSIOND_SESSION__IDLE_TIMEOUT", "90m"),
            ("SESSIOND_SERVER__LISTEN", "localhost:9000"),
        ]);
        let settings = load(None, &vars);
        let text = to_toml(&settings).expect("toml");
        for secret in [
            "hunter2",
            "mailpw",
            "0123456789abcdef-hmac",
            "old-key",
            "s3cr3t-key",
            "AKIAEXAMPLE",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(
            text.contains("# hmac_key = (secret, not shown; set it with SESSIOND_AUDIT__HMAC_KEY)"),
            "{text}"
        );
        assert!(text.contains("postgres://admin:***@db/sessiond"), "{text}");
        assert!(text.contains("idle_timeout = \"90m\""), "{text}");
        // Saved and loaded with the secrets from the environment: the same settings.
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("effective.toml");
        std::fs::write(&file, &text).expect("write");
        let back = load(Some(&file), secrets);
        assert_eq!(format!("{back:?}"), format!("{settings:?}"));
        assert_eq!(back.audit.hmac_key, settings.audit.hmac_key);
        assert_eq!(back.storage.s3.secret_access_key, settings.storage.s3.secret_access_key);
    }
}
