//! TLS policy: verified by default, `insecure` on request, or pinned to a certificate
//! thumbprint (SHA-256 or SHA-1, as govc's known_hosts) for self-signed ESXi hosts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::Error;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Verify the chain against the system roots (plus an optional CA bundle).
    #[default]
    Verify,
    VerifyWithCa(PathBuf),
    /// Accept any certificate. An explicit choice of the user.
    Insecure,
    /// Accept exactly the certificate with this thumbprint.
    Pinned(String),
}

/// The process's crypto provider (ring), installed once; also the exporter's TLS server's.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Ignore the error: another part of the process may have installed it first.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Follow a few redirects within the endpoint's origin (scheme, host and port), but name
/// a loop instead of going round it ten times. A redirect to another origin is never
/// followed: a 307 would re-send the whole request there, a Login's password included
/// (and a change of scheme could downgrade https to http).
fn redirect_policy() -> reqwest::redirect::Policy {
    const MAX_HOPS: usize = 5;
    reqwest::redirect::Policy::custom(|attempt| {
        if let Some(first) = attempt.previous().first()
            && !same_origin(first, attempt.url())
        {
            let to = attempt.url().to_string();
            return attempt.error(CrossOrigin { to });
        }
        let looped = attempt.previous().iter().any(|u| u == attempt.url());
        if looped || attempt.previous().len() > MAX_HOPS {
            let chain = attempt
                .previous()
                .iter()
                .chain(std::iter::once(attempt.url()))
                .map(reqwest::Url::as_str)
                .collect::<Vec<_>>()
                .join(" -> ");
            let what = if looped {
                "redirect loop"
            } else {
                "too many redirects"
            };
            attempt.error(format!("{what}: {chain}"))
        } else {
            attempt.follow()
        }
    })
}

/// Same scheme, host and port (default ports made explicit).
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A redirect the policy refused to follow because it leaves the endpoint's origin.
#[derive(Debug)]
pub struct CrossOrigin {
    pub to: String,
}

impl std::fmt::Display for CrossOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to another origin: {}", self.to)
    }
}

impl std::error::Error for CrossOrigin {}

/// `describe_tls_error` for a failure that reached us only as rustls's text
/// ("invalid peer certificate: UnknownIssuer"), e.g. through a transport layer that
/// kept the message but not the error.
pub fn describe_tls_text(text: &str) -> Option<String> {
    use rustls::CertificateError as C;
    let (_, name) = text.split_once("invalid peer certificate: ")?;
    let certificate = match name.trim() {
        "Expired" => C::Expired,
        "NotValidYet" => C::NotValidYet,
        "UnknownIssuer" => C::UnknownIssuer,
        "NotValidForName" => C::NotValidForName,
        "BadSignature" => C::BadSignature,
        "Revoked" => C::Revoked,
        "BadEncoding" => C::BadEncoding,
        other => {
            let named = Named(other.chars().take(200).collect());
            C::Other(rustls::OtherError(Arc::new(named)))
        }
    };
    Some(describe_tls_error(&rustls::Error::InvalidCertificate(
        certificate,
    )))
}

/// An error known only by its text.
#[derive(Debug)]
struct Named(String);

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Named {}

/// A certificate failure in words an operator acts on (rustls's Debug form is not).
pub fn describe_tls_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let certificate = match e {
        rustls::Error::InvalidCertificate(c) => c,
        rustls::Error::General(message) => return message.clone(),
        other => return format!("the TLS handshake failed: {other}"),
    };
    let what = match certificate {
        C::Expired | C::ExpiredContext { .. } => "has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "is not valid yet (is this machine's or the server's clock wrong?)".to_string()
        }
        C::UnknownIssuer => "is issued by a certificate authority this machine does not trust \
             (self-signed, or a private CA missing from ca_file)"
            .to_string(),
        C::NotValidForName => "is not valid for this host name".to_string(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "is not valid for the name {} (it names {})",
            expected.to_str(),
            if presented.is_empty() {
                "no host".to_string()
            } else {
                presented.join(", ")
            }
        ),
        C::BadSignature => "carries a signature that does not verify (forged or corrupted)".into(),
        C::Revoked => "has been revoked by its issuer".into(),
        C::BadEncoding => "cannot be decoded (malformed certificate)".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "is not meant for a TLS server (wrong key usage)".into()
        }
        C::UnhandledCriticalExtension => "has a critical extension ceso cannot check".into(),
        C::Other(other) => {
            let text = other.to_string();
            if text.contains("CaUsedAsEndEntity") {
                "is a CA certificate used as the server's own (CaUsedAsEndEntity); \
                 the server should present a certificate issued by that CA"
                    .into()
            } else {
                format!("was refused ({text})")
            }
        }
        other => format!("was refused ({other:?})"),
    };
    format!("the server's certificate {what}")
}

/// The verified TLS set-up against the system roots, built once per process and shared
/// by every endpoint's client: building it reads the whole system certificate store
/// (about 150 files), which at 200 endpoints cost more than the listing itself.
fn system_roots_config() -> Result<rustls::ClientConfig, Error> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = provider();
            let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| format!("cannot load the system's certificate store: {e}"))?;
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
            // As reqwest sets it for its own rustls set-up: ceso speaks HTTP/1.1 only.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .clone()
        .map_err(Error::Other)
}

/// Build the HTTP client for one endpoint. An endpoint reached over plain `http://`
/// (a simulator, a local proxy) never speaks TLS (redirects to another scheme are
/// refused), so its client trusts no root at all instead of reading the system's
/// certificate store, which is most of a short command's start-up.
pub fn http_client(
    mode: &TlsMode,
    connect_timeout: Duration,
    plain_http: bool,
) -> Result<reqwest::Client, Error> {
    let provider = provider();
    let builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(redirect_policy())
        // The SDK URL is nobody's business but the endpoint's.
        .referer(false)
        .no_proxy();
    let builder = match mode {
        TlsMode::Verify if plain_http => {
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Other(format!("TLS setup: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder.tls_backend_preconfigured(config)
        }
        TlsMode::Verify => builder.tls_backend_preconfigured(system_roots_config()?),
        TlsMode::VerifyWithCa(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Other(format!("cannot read CA bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Other(format!("invalid CA bundle {}: {e}", path.display())))?;
            certs
                .into_iter()
                .fold(builder.tls_backend_rustls(), |b, c| {
                    b.add_root_certificate(c)
                })
        }
        TlsMode::Insecure => builder
            .tls_backend_rustls()
            .tls_danger_accept_invalid_certs(true),
        TlsMode::Pinned(thumbprint) => {
            let expected = parse_thumbprint(thumbprint)?;
            let verifier = Arc::new(PinnedVerifier {
                expected,
                provider: provider.clone(),
            });
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Other(format!("TLS setup: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            builder.tls_backend_preconfigured(config)
        }
    };
    builder
        .build()
        .map_err(|e| Error::Other(format!("cannot build HTTP client: {e}")))
}

/// HTTP clients by TLS set-up and connect timeout, shared by the endpoints of one fleet:
/// building one per endpoint (its TLS set-up, resumption cache and connection pool) was
/// a tenth of a 200-endpoint listing's CPU. Sharing is safe: a pool keeps connections per
/// scheme, host and port, redirects are judged per request, and the session cookie is
/// set per request, never kept by the client. Kept within one runtime (a fleet's).
#[derive(Default)]
pub struct HttpClients(Mutex<Vec<(ClientKey, reqwest::Client)>>);

/// What makes two endpoints' clients the same: TLS mode, connect timeout, plain HTTP.
type ClientKey = (TlsMode, Duration, bool);

impl HttpClients {
    /// The client for this set-up, built on first use (`http_client`).
    pub fn get(
        &self,
        mode: &TlsMode,
        connect_timeout: Duration,
        plain_http: bool,
    ) -> Result<reqwest::Client, Error> {
        let key = (mode.clone(), connect_timeout, plain_http);
        let mut built = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, client)) = built.iter().find(|(k, _)| *k == key) {
            return Ok(client.clone());
        }
        let client = http_client(mode, connect_timeout, plain_http)?;
        built.push((key, client.clone()));
        Ok(client)
    }
}

/// A thumbprint as bytes: 20 bytes for SHA-1, 32 for SHA-256. Colons and case are free.
pub fn parse_thumbprint(text: &str) -> Result<Vec<u8>, Error> {
    let hex_digits: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_digits)
        .map_err(|_| Error::Other(format!("thumbprint '{text}' is not hexadecimal")))?;
    match bytes.len() {
        20 | 32 => Ok(bytes),
        n => Err(Error::Other(format!(
            "thumbprint '{text}' has {n} bytes; expected 32 (SHA-256) or 20 (SHA-1)"
        ))),
    }
}

/// `AA:BB:…` upper-case hex, the form vSphere and govc print.
pub fn format_thumbprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn sha256_thumbprint(der: &[u8]) -> String {
    format_thumbprint(&Sha256::digest(der))
}

#[derive(Debug)]
struct PinnedVerifier {
    expected: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual: Vec<u8> = if self.expected.len() == 20 {
            Sha1::digest(end_entity.as_ref()).to_vec()
        } else {
            Sha256::digest(end_entity.as_ref()).to_vec()
        };
        if actual == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate thumbprint {} does not match the pinned {}",
                format_thumbprint(&actual),
                format_thumbprint(&self.expected)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Records the server certificate and refuses it: used after a verification failure to
/// tell the user which thumbprint to pin, without sending a request.
#[derive(Debug)]
struct RecordingVerifier {
    seen: Mutex<Option<Vec<u8>>>,
    inner: PinnedVerifier,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.as_ref().to_vec());
        }
        Err(rustls::Error::General("recorded".into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The SHA-256 thumbprint the server at `url` presents, if a handshake gets that far.
pub async fn probe_thumbprint(url: &str) -> Option<String> {
    let provider = provider();
    let verifier = Arc::new(RecordingVerifier {
        seen: Mutex::new(None),
        inner: PinnedVerifier {
            expected: Vec::new(),
            provider: provider.clone(),
        },
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .ok()?;
    let _ = client.head(url).send().await;
    let der = verifier.seen.lock().ok()?.clone()?;
    Some(sha256_thumbprint(&der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_with_or_without_colons() {
        let sha1 = "AB:".repeat(19) + "AB";
        assert_eq!(parse_thumbprint(&sha1).unwrap().len(), 20);
        assert_eq!(parse_thumbprint(&"cd".repeat(32)).unwrap().len(), 32);
        assert!(parse_thumbprint("12:34").is_err());
        assert!(parse_thumbprint("zz").is_err());
        assert_eq!(format_thumbprint(&[0xab, 0x01]), "AB:01");
    }

    #[test]
    fn origins_differ_by_scheme_host_or_port() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let sdk = url("https://vc.lab/sdk");
        assert!(same_origin(&sdk, &url("https://vc.lab:443/other")));
        assert!(!same_origin(&sdk, &url("http://vc.lab/sdk")), "a downgrade");
        assert!(!same_origin(&sdk, &url("https://vc.lab:8443/sdk")));
        assert!(!same_origin(&sdk, &url("https://evil.lab/sdk")));
    }

    #[test]
    fn certificate_errors_are_told_in_words() {
        use rustls::CertificateError as C;
        let words = |c: C| describe_tls_error(&rustls::Error::InvalidCertificate(c));
        // webpki's errors reach rustls as `CertificateError::Other`, shown by their Debug name.
        let ca = C::Other(rustls::OtherError(Arc::new(Named(
            "CaUsedAsEndEntity".into(),
        ))));
        let cases = [
            (
                ca,
                "is a CA certificate used as the server's own (CaUsedAsEndEntity)",
            ),
            (C::Expired, "has expired"),
            (C::NotValidYet, "is not valid yet"),
            (C::UnknownIssuer, "does not trust"),
            (C::NotValidForName, "is not valid for this host name"),
            (C::BadSignature, "signature that does not verify"),
        ];
        for (error, expected) in cases {
            let text = words(error);
            assert!(text.starts_with("the server's certificate "), "{text}");
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("Other("), "{text}");
        }
        let named = words(C::NotValidForNameContext {
            expected: ServerName::try_from("vc.lab").unwrap(),
            presented: vec!["esx1.lab".into()],
        });
        assert!(
            named.contains("not valid for the name vc.lab (it names esx1.lab)"),
            "{named}"
        );
        let text =
            describe_tls_text("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))");
        assert!(text.is_some_and(|t| t.contains("(CaUsedAsEndEntity)")));
        assert_eq!(describe_tls_text("connection reset"), None);
    }
}
