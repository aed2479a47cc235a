//! How the server connects to PostgreSQL: the `postgres://` URL, with its `sslmode` read as
//! libpq reads it (docs/api.md §7), over rustls (tokio-postgres-rustls):
//!
//! - `disable`, `prefer` (the default): no TLS;
//! - `require`: TLS, whatever certificate the server shows (with `sslrootcert` given, it
//!   must chain to it, as libpq does then);
//! - `verify-ca`: TLS, the certificate chains to the CA in `sslrootcert`;
//! - `verify-full`: that, and the certificate names the host connected to.
//!
//! tokio-postgres knows only the first three modes and no `sslrootcert`: both are taken out
//! of the URL here and the rest is handed on. A refused certificate is reported in words.

use super::super::DbError;
use postgres::config::{Host, SslMode};
use postgres::{Client, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What `sslmode` asks of the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    /// No TLS.
    Off,
    /// TLS, any certificate.
    Nothing,
    /// TLS, a certificate of the CA in `sslrootcert`.
    Ca,
    /// TLS, a certificate of that CA naming the host.
    Full,
}

/// The settings to connect with; cheap to clone.
#[derive(Clone)]
pub(crate) struct PgConnect {
    config: postgres::Config,
    verify: Verify,
    root: Option<PathBuf>,
    tls: Option<MakeRustlsConnect>,
}

impl PgConnect {
    /// Reads a `postgres://` URL; a bad URL, an unknown `sslmode` or an unreadable
    /// `sslrootcert` is an error here, before any connection.
    pub(crate) fn parse(url: &str) -> Result<Self, DbError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut sslmode = None;
        let mut root = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(key).as_str() {
                "sslmode" => sslmode = Some(decode(value)),
                "sslrootcert" => root = Some(PathBuf::from(decode(value))),
                _ => rest.push(pair),
            }
        }
        let verify = match sslmode.as_deref() {
            None | Some("disable" | "prefer" | "allow") => Verify::Off,
            Some("require") if root.is_some() => Verify::Ca,
            Some("require") => Verify::Nothing,
            Some("verify-ca") => Verify::Ca,
            Some("verify-full") => Verify::Full,
            Some(other) => {
                return Err(DbError::Tls(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                )))
            }
        };
        let handed_on = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: postgres::Config = handed_on
            .parse()
            .map_err(|e: postgres::Error| DbError::Url(e.to_string()))?;
        config.ssl_mode(if verify == Verify::Off {
            SslMode::Disable
        } else {
            SslMode::Require
        });
        let tls = match verify {
            Verify::Off => None,
            Verify::Nothing => Some(client_config(Arc::new(AnyCertificate(provider())))?),
            Verify::Ca | Verify::Full => {
                let Some(path) = &root else {
                    return Err(DbError::Tls(format!(
                        "sslmode={} needs sslrootcert=PATH, the certificate of the CA that \
                         signed the server's",
                        sslmode.as_deref().unwrap_or("")
                    )));
                };
                let chain = WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots(path)?),
                    Arc::new(provider()),
                )
                .build()
                .map_err(|e| {
                    DbError::Tls(format!("cannot use sslrootcert {}: {e}", path.display()))
                })?;
                if verify == Verify::Full {
                    Some(client_config(chain)?)
                } else {
                    Some(client_config(Arc::new(AnyHostName(chain)))?)
                }
            }
        }
        .map(MakeRustlsConnect::new);
        Ok(Self {
            config,
            verify,
            root,
            tls,
        })
    }

    /// The settings besides TLS.
    #[cfg(test)]
    fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// Opens a connection. Blocking.
    pub(crate) fn connect(&self) -> Result<Client, DbError> {
        let connected = match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        };
        connected.map_err(|error| match refused_certificate(&error) {
            Some(reason) => DbError::Certificate(self.explain(reason)),
            None => DbError::Postgres(error),
        })
    }

    fn explain(&self, reason: &CertificateError) -> String {
        let root = self
            .root
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|host| match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_default();
        match reason {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the PostgreSQL server's certificate is not signed by the certificate authority \
                 in sslrootcert ({root}): the connection was refused"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the PostgreSQL server's certificate does not name the host `{host}` \
                     (sslmode=verify-full): the connection was refused; connect by a name the \
                     certificate lists"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the PostgreSQL server's certificate has expired: the connection was refused"
                    .to_owned()
            }
            other => format!(
                "the PostgreSQL server's certificate was refused ({other:?}; sslmode={})",
                match self.verify {
                    Verify::Full => "verify-full",
                    Verify::Ca => "verify-ca",
                    Verify::Nothing | Verify::Off => "require",
                }
            ),
        }
    }
}

/// The certificate error inside a failed connection, if that is why it failed: rustls's
/// error sits in an `io::Error` inside tokio-postgres's.
fn refused_certificate(error: &postgres::Error) -> Option<&CertificateError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        let inner: Option<&(dyn std::error::Error + 'static)> = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|e| e as &(dyn std::error::Error + 'static));
        for candidate in [Some(error), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(reason)) =
                candidate.downcast_ref::<rustls::Error>()
            {
                return Some(reason);
            }
        }
        current = error.source();
    }
    None
}

/// Percent-decoding, as tokio-postgres decodes URL parts.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> Result<ClientConfig, DbError> {
    Ok(ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The certificates of a PEM file.
fn roots(path: &Path) -> Result<RootCertStore, DbError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        DbError::Tls(format!("cannot read sslrootcert {}: {e}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(roots)
}

/// `sslmode=require`: any certificate (the handshake's signatures are still checked).
#[derive(Debug)]
struct AnyCertificate(CryptoProvider);

impl AnyCertificate {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_are_taken_out_of_the_url_and_the_rest_handed_on() {
        let plain = PgConnect::parse("postgres://casedesk@127.0.0.1:5432/db").unwrap();
        assert_eq!(plain.verify, Verify::Off);
        assert!(plain.tls.is_none());
        let prefer =
            PgConnect::parse("postgres://u@h/db?sslmode=prefer&connect_timeout=5").unwrap();
        assert_eq!(prefer.verify, Verify::Off);
        assert_eq!(
            prefer.config().get_connect_timeout(),
            Some(&std::time::Duration::from_secs(5))
        );
        let require = PgConnect::parse("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(require.verify, Verify::Nothing);
        assert!(require.tls.is_some());
        assert_eq!(require.config().get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn verifying_modes_need_a_readable_root_certificate() {
        let missing = PgConnect::parse("postgres://u@h/db?sslmode=verify-full").err();
        assert!(
            matches!(&missing, Some(DbError::Tls(m)) if m.contains("sslrootcert")),
            "{missing:?}"
        );
        let unreadable =
            PgConnect::parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fno%2Fsuch.pem")
                .err();
        assert!(
            matches!(&unreadable, Some(DbError::Tls(m)) if m.contains("/no/such.pem")),
            "{unreadable:?}"
        );
        let unknown = PgConnect::parse("postgres://u@h/db?sslmode=sometimes").err();
        assert!(matches!(unknown, Some(DbError::Tls(_))));
    }
}
