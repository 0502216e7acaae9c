//! Prometheus' web-config file (the exporter-toolkit conventions every exporter reads):
//! `tls_server_config: {cert_file, key_file}` serves HTTPS, `basic_auth_users: {user:
//! bcrypt hash}` asks for a password. Keys of the format that ceso does not implement are
//! refused by name rather than silently ignored (a `client_auth_type` ignored would be a
//! hole).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::ops::{OpError, OpResult};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: String,
    key_file: String,
}

/// What the exporter serves with: TLS (if configured) and the users allowed in.
pub struct WebConfig {
    pub tls: Option<Arc<ServerConfig>>,
    users: BTreeMap<String, String>,
    /// Per user, the digest of the last password that passed bcrypt: Prometheus sends
    /// the same one every scrape, and bcrypt costs tens of milliseconds by design.
    verified: Mutex<HashMap<String, [u8; 32]>>,
    /// Checked against when the user is unknown, so an unknown user takes as long as a
    /// wrong password (no user enumeration by timing).
    dummy: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A header longer than this is refused before any decoding.
const MAX_AUTHORIZATION: usize = 4096;

impl WebConfig {
    pub fn load(path: &Path) -> OpResult<WebConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| OpError::Io(format!("--web-config {}: {e}", path.display())))?;
        let name = path.display().to_string();
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig {
                tls_server_config: None,
                basic_auth_users: None,
            }
        } else {
            serde_yaml::from_str(&text).map_err(|e| {
                let offset = e.location().map_or(0, |l| l.index());
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                ConfigError::at(
                    &name,
                    &mask_hashes(&text),
                    offset,
                    format!("invalid web config: {message}"),
                    "here",
                    Some(
                        "ceso reads tls_server_config (cert_file, key_file) and basic_auth_users \
                         (user: bcrypt hash); see docs/monitoring.md"
                            .into(),
                    ),
                )
            })?
        };
        let users = raw.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                let offset = text.find(hash.as_str()).unwrap_or(0);
                return Err(ConfigError::at(
                    &name,
                    &mask_hashes(&text),
                    offset,
                    format!("the password of user {user:?} is not a bcrypt hash"),
                    "not $2b$…",
                    Some("make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`".into()),
                )
                .into());
            }
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|t| server_config(&dir.join(&t.cert_file), &dir.join(&t.key_file)))
            .transpose()?;
        Ok(WebConfig {
            tls,
            dummy: dummy_hash(&users),
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Plain HTTP, no password (no `--web-config`).
    pub fn none() -> WebConfig {
        WebConfig {
            tls: None,
            users: BTreeMap::new(),
            verified: Mutex::new(HashMap::new()),
            dummy: String::new(),
        }
    }

    pub fn needs_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether a request with this `Authorization` header may see the page. Runs bcrypt:
    /// call it off the async threads.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let digest = *blake3::hash(password.as_bytes()).as_bytes();
        let hash = self.users.get(&user);
        if hash.is_some() && self.cached(&user) == Some(digest) {
            return true;
        }
        let ok = bcrypt::verify(&password, hash.unwrap_or(&self.dummy)).unwrap_or(false)
            && hash.is_some();
        if ok && let Ok(mut v) = self.verified.lock() {
            v.insert(user, digest);
        }
        ok
    }

    fn cached(&self, user: &str) -> Option<[u8; 32]> {
        self.verified.lock().ok()?.get(user).copied()
    }
}

/// A hash of a random password at the cost the users' hashes have.
fn dummy_hash(users: &BTreeMap<String, String>) -> String {
    let cost = users
        .values()
        .find_map(|h| h.parse::<bcrypt::HashParts>().ok())
        .map_or(bcrypt::DEFAULT_COST, |p| p.get_cost());
    bcrypt::hash(uuid::Uuid::new_v4().to_string(), cost).unwrap_or_default()
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    if header.len() > MAX_AUTHORIZATION {
        return None;
    }
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The file's text with every password hash starred out (same length, so error offsets
/// still point at the right place): a snippet in an error must not carry them. That is
/// every `$2…` token, and every value under `basic_auth_users:` (a plain password put
/// there by mistake included).
fn mask_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_users = false;
    for line in text.split_inclusive('\n') {
        let indented = line.starts_with([' ', '\t']);
        if !indented && !line.trim().is_empty() {
            in_users = line.trim_start().starts_with("basic_auth_users:");
        }
        let value_at = if in_users && indented {
            line.find(':').map(|i| i + 1)
        } else {
            line.find("$2")
        };
        match value_at {
            Some(i) => {
                let body = line.trim_end_matches(['\n', '\r']);
                let (keep, secret) = body.split_at(i.min(body.len()));
                out.push_str(keep);
                for c in secret.chars() {
                    // Byte for byte, so offsets into the text stay valid.
                    let star = if c == ' ' { " " } else { "*" };
                    out.push_str(&star.repeat(c.len_utf8()));
                }
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn server_config(cert: &PathBuf, key: &PathBuf) -> OpResult<Arc<ServerConfig>> {
    let bad = |what: &str, path: &PathBuf, e: &dyn std::fmt::Display| OpError::Invalid {
        message: format!("web config: cannot read the {what} {}: {e}", path.display()),
        hint: Some(format!(
            "the {what} is a PEM file; a relative path is read from the web config's directory"
        )),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("certificate", cert, &"no CERTIFICATE block"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let config = ServerConfig::builder_with_provider(crate::vim::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("certificate", cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| OpError::Invalid {
            message: format!(
                "web config: {} and {} do not make a TLS identity: {e}",
                cert.display(),
                key.display()
            ),
            hint: Some("give the key that belongs to the certificate".into()),
        })?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(users: &[(&str, &str)]) -> WebConfig {
        let users: BTreeMap<String, String> = users
            .iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).expect("hash")))
            .collect();
        WebConfig {
            tls: None,
            dummy: dummy_hash(&users),
            users,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn only_the_right_password_passes_and_passes_again() {
        let c = config(&[("prom", "s3cret")]);
        assert!(!c.allows(None));
        assert!(!c.allows(Some(&basic("prom", "wrong"))));
        assert!(!c.allows(Some(&basic("nobody", "s3cret"))));
        assert!(!c.allows(Some(b"Bearer abc")));
        assert!(c.allows(Some(&basic("prom", "s3cret"))));
        // From the cache, and a wrong one after a right one still fails.
        assert!(c.allows(Some(&basic("prom", "s3cret"))));
        assert!(!c.allows(Some(&basic("prom", "wrong"))));
    }

    #[test]
    fn no_users_means_no_auth() {
        assert!(config(&[]).allows(None));
    }

    #[test]
    fn hashes_and_passwords_are_starred_out_in_place() {
        let text = "basic_auth_users:\n  prom: $2b$10$abc\n  x: plain\ntls_server_config:\n  cert_file: c.pem\n";
        let masked = mask_hashes(text);
        assert_eq!(masked.len(), text.len());
        assert!(
            !masked.contains("$2b") && !masked.contains("plain"),
            "{masked}"
        );
        assert!(masked.contains("  x: *****\n"), "{masked}");
        assert!(masked.contains("cert_file: c.pem"), "{masked}");
    }
}
