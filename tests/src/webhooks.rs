//! A webhook receiver for tests: a real HTTP (or HTTPS) server that checks every Standard
//! Webhooks signature itself, as a receiver's verifier library would, and keeps what it
//! accepted. And a certificate authority made for one test, for the HTTPS receiver.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a receiver accepted: (webhook-id, body), in arrival order.
pub type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Verify a request as a Standard Webhooks receiver would: the signature over
/// `id.timestamp.body` with `key`, and a timestamp within five minutes.
pub fn verified(key: &[u8], id: &str, timestamp: &str, signatures: &str, body: &[u8]) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return false;
    }
    let Ok(mut mac) = Hmac::<sha2_11::Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .any(|s| s.strip_prefix("v1,").is_some_and(|sig| sig == expected))
}

async fn handle(req: Request<Incoming>, key: Arc<Vec<u8>>, got: Received) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, ts, sig) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status = if verified(&key, &id, &ts, &sig, &body) {
        match serde_json::from_slice(&body) {
            Ok(v) => {
                got.lock().expect("lock").push((id, v));
                StatusCode::NO_CONTENT
            }
            Err(_) => StatusCode::BAD_REQUEST,
        }
    } else {
        StatusCode::UNAUTHORIZED
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}

/// A receiver on `addr` (port 0: any free one) checking signatures with `key`, over TLS when
/// `tls` is given. Aborting the returned task stops it.
pub async fn receiver(
    addr: SocketAddr,
    key: &[u8],
    got: Received,
    tls: Option<TlsAcceptor>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(addr).await.expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    let key = Arc::new(key.to_vec());
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let (got, key, tls) = (got.clone(), key.clone(), tls.clone());
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(req, key.clone(), got.clone()));
                let http = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    None => {
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await
                    }
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => {
                            http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await
                        }
                        Err(_) => return,
                    },
                };
            });
        }
    });
    (addr, task)
}

/// A certificate authority made for one test, and a server certificate it signed for
/// `localhost` and 127.0.0.1.
pub struct TestCa {
    /// The authority's certificate, PEM (what a client is told to trust).
    pub ca_pem: String,
    /// A TLS acceptor serving the signed server certificate.
    pub acceptor: TlsAcceptor,
}

impl TestCa {
    /// Make the authority and the server certificate.
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "sessiond test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let key = rcgen::KeyPair::generate().expect("server key");
        let server =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
        let cert = server.signed_by(&key, &ca_cert, &ca_key).expect("server certificate");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        TestCa {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A Standard Webhooks secret (`whsec_<base64>`) for `key`.
pub fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}
