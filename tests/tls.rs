//! TLS and HTTP/2 on the listener: a self-signed certificate kept in the data
//! dir and trusted by a real client; ALPN `h2` and `http/1.1`; many SSE
//! streams on one HTTP/2 connection; cleartext HTTP/2 with prior knowledge;
//! the handshake, first-request and HTTP/2 idle deadlines; drain over
//! HTTP/2; WebSockets over TLS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use spillway::config::TlsMode;
use spillway::edge::self_signed::{CERT_FILE, KEY_FILE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn addr(gw: &Gateway) -> SocketAddr {
    gw.server.as_ref().unwrap().addr()
}

/// A gateway serving HTTPS with a self-signed certificate; `tweak` as in `Gateway::with`.
async fn tls_gateway(tweak: impl FnOnce(&mut spillway::config::Config)) -> Gateway {
    Gateway::with(|c| {
        c.tls = Some(TlsMode::SelfSigned);
        tweak(c);
    })
    .await
}

fn https(gw: &Gateway, path: &str) -> String {
    let url = gw.server.as_ref().unwrap().url();
    assert!(url.starts_with("https://"), "{url}");
    format!("{url}{path}")
}

/// The certificate clients trust: the one in the data dir.
fn trusted(gw: &Gateway) -> reqwest::Certificate {
    let pem = std::fs::read(gw.data_dir().join(CERT_FILE)).unwrap();
    reqwest::Certificate::from_pem(&pem).unwrap()
}

/// A client trusting only the gateway's certificate.
fn client(gw: &Gateway, http1: bool) -> reqwest::Client {
    let b = reqwest::Client::builder().tls_certs_only([trusted(gw)]);
    let b = if http1 { b.http1_only() } else { b };
    b.build().unwrap()
}

async fn stream(
    http: &reqwest::Client,
    url: &str,
    gw: &Gateway,
    prompt: &str,
) -> reqwest::Response {
    http.post(url)
        .bearer_auth(&gw.token)
        .json(&json!({ "prompt": prompt }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_self_signed_certificate_is_kept_in_the_data_dir_and_serves_sse_over_h2() {
    let gw = tls_gateway(|_| {}).await;
    let key = gw.data_dir().join(KEY_FILE);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let http = client(&gw, false);
    let health = http.get(https(&gw, "/healthz")).send().await.unwrap();
    assert_eq!(health.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(health.status(), 200);

    let resp = stream(
        &http,
        &https(&gw, "/v1/stream"),
        &gw,
        "[[sim tokens=20 rate=100]] over h2",
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = collect_events(resp).await;
    assert_contiguous(&events, 0);
    assert_eq!(events.len(), 21);
    assert_eq!(events.last().unwrap().event, "done");

    // Plain HTTP is not served on a TLS port.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", addr(&gw)))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn http1_still_works_over_tls() {
    let gw = tls_gateway(|_| {}).await;
    let http = client(&gw, true);
    let resp = stream(
        &http,
        &https(&gw, "/v1/stream"),
        &gw,
        "[[sim tokens=10 rate=100]] over h1",
    )
    .await;
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let events = collect_events(resp).await;
    assert_contiguous(&events, 0);
    assert_eq!(events.len(), 11);
    // A client that trusts nothing of ours refuses the certificate.
    let stranger = reqwest::Client::new()
        .get(https(&gw, "/healthz"))
        .send()
        .await;
    assert!(stranger.is_err(), "an untrusted certificate");
    gw.shutdown().await;
}

/// A TCP proxy in front of `to` that counts the connections it accepts and
/// reports each one the gateway side closes.
struct CountingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: mpsc::UnboundedReceiver<Instant>,
}

impl CountingProxy {
    async fn start(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (tx, closed) = mpsc::unbounded_channel();
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let server = TcpStream::connect(to).await.unwrap();
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = sw.shutdown().await;
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        // The gateway closed its side.
                        let _ = tx.send(Instant::now());
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Self {
            addr,
            accepted,
            closed,
        }
    }
}

#[tokio::test]
async fn a_hundred_sse_streams_run_at_once_on_one_cleartext_h2_connection() {
    let gw = Gateway::start().await;
    let proxy = CountingProxy::start(addr(&gw)).await;
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = format!("http://{}/v1/stream", proxy.addr);
    let streams = (0..100).map(|i| {
        let (http, url, gw) = (&http, &url, &gw);
        async move {
            let resp = stream(
                http,
                url,
                gw,
                &format!("[[sim tokens=30 rate=30]] stream {i}"),
            )
            .await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.version(), reqwest::Version::HTTP_2);
            collect_events(resp).await
        }
    });
    let started = Instant::now();
    let all = futures_util::future::join_all(streams).await;
    let took = started.elapsed();
    for events in &all {
        assert_contiguous(events, 0);
        assert_eq!(events.len(), 31);
        assert_eq!(events.last().unwrap().event, "done");
    }
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "every stream on one connection"
    );
    // Each stream takes about a second; run one after another they would take 100.
    assert!(
        took < Duration::from_secs(15),
        "took {took:?}: not concurrent"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn cleartext_h2_prior_knowledge_and_http1_share_the_plain_listener() {
    let gw = Gateway::start().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    gw.shutdown().await;
}

/// Wait for the server to close `sock` (EOF or reset).
async fn closed_by_server(sock: &mut TcpStream, limit: Duration) {
    within(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
}

#[tokio::test]
async fn sockets_that_never_finish_a_handshake_lose_their_slot_after_the_header_timeout() {
    let gw = tls_gateway(|c| {
        c.http_header_timeout_secs = 1.0;
        c.max_connections_per_ip = 3;
        // One accepting socket, so the gateway takes connections in the
        // order they connected. With a socket per serving thread, the
        // request below can be accepted (and let in) before one of the three
        // it should find holding the cap; the caps still hold at every
        // instant, but this test could not tell which connection is refused.
        c.serve_threads = Some(1);
    })
    .await;
    let started = Instant::now();
    // Silent after TCP; half a ClientHello; a whole one (from a real client) is below.
    let mut silent = TcpStream::connect(addr(&gw)).await.unwrap();
    let mut half = TcpStream::connect(addr(&gw)).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut full = TcpStream::connect(addr(&gw)).await.unwrap();
    // The cap is full while they are held.
    let refused = client(&gw, false).get(https(&gw, "/healthz")).send().await;
    assert!(refused.is_err(), "over the per-address cap");
    for s in [&mut silent, &mut half, &mut full] {
        closed_by_server(s, Duration::from_secs(5)).await;
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "closed after {took:?}, header timeout 1 s"
    );
    // Their slots are free again.
    let http = client(&gw, false);
    eventually(Duration::from_secs(5), || async {
        http.get(https(&gw, "/healthz")).send().await.is_ok()
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_tls_connection_without_a_request_is_closed_after_the_header_timeout() {
    let gw = tls_gateway(|c| c.http_header_timeout_secs = 1.0).await;
    let pem = std::fs::read(gw.data_dir().join(CERT_FILE)).unwrap();
    let tcp = TcpStream::connect(addr(&gw)).await.unwrap();
    let mut tls = tls_connect(&pem, tcp, b"h2").await;
    let started = Instant::now();
    within(Duration::from_secs(5), async {
        let mut buf = [0u8; 256];
        // The server's SETTINGS may come first; then the close.
        while !matches!(tls.read(&mut buf).await, Ok(0) | Err(_)) {}
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn half_an_h2_preface_is_closed_and_an_idle_h2_connection_gets_a_goaway() {
    let gw = Gateway::with(|c| {
        c.http_header_timeout_secs = 1.0;
        c.http_idle_timeout_secs = 2.0;
    })
    .await;
    let started = Instant::now();
    let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    closed_by_server(&mut s, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}, header timeout 1 s"
    );

    // An HTTP/2 connection with no stream open past the idle timeout is
    // closed by the gateway (a client answering pings would hold it forever).
    let mut proxy = CountingProxy::start(addr(&gw)).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .get(format!("http://{}/healthz", proxy.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let answered = Instant::now();
    // A stream longer than the idle timeout keeps the connection.
    let resp = stream(
        &h2,
        &format!("http://{}/v1/stream", proxy.addr),
        &gw,
        "[[sim tokens=30 rate=10]] three seconds",
    )
    .await;
    let events = collect_events(resp).await;
    assert_eq!(events.len(), 31);
    assert!(answered.elapsed() > Duration::from_millis(2500));
    let streamed = Instant::now();
    let closed = within(Duration::from_secs(6), proxy.closed.recv())
        .await
        .unwrap();
    let idle = closed - streamed;
    assert!(
        idle >= Duration::from_millis(1800) && idle < Duration::from_secs(5),
        "closed {idle:?} after the last stream, idle timeout 2 s"
    );
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_drain_lets_h2_streams_finish_then_closes() {
    let gw = tls_gateway(|c| c.drain_secs = 5).await;
    let http = client(&gw, false);
    let url = https(&gw, "/v1/stream");
    let a = stream(&http, &url, &gw, "[[sim tokens=20 rate=20]] a").await;
    let b = stream(&http, &url, &gw, "[[sim tokens=20 rate=20]] b").await;
    assert_eq!(a.version(), reqwest::Version::HTTP_2);
    let (a, b) = (
        tokio::spawn(collect_events(a)),
        tokio::spawn(collect_events(b)),
    );
    let stopping = tokio::spawn(gw.shutdown());
    for events in [a.await.unwrap(), b.await.unwrap()] {
        assert_contiguous(&events, 0);
        assert_eq!(events.last().unwrap().event, "done");
    }
    within(Duration::from_secs(15), stopping).await.unwrap();
}

/// A TLS client session on `tcp`, trusting `pem` and offering `alpn`.
async fn tls_connect(
    pem: &[u8],
    tcp: TcpStream,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pem).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
    tls
}

#[tokio::test]
async fn websockets_work_over_tls() {
    let gw = tls_gateway(|_| {}).await;
    let pem = std::fs::read(gw.data_dir().join(CERT_FILE)).unwrap();
    let tcp = TcpStream::connect(addr(&gw)).await.unwrap();
    let tls = tls_connect(&pem, tcp, b"http/1.1").await;
    let url = format!(
        "wss://localhost:{}/v1/ws?token={}",
        addr(&gw).port(),
        gw.token
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url.into_client_request().unwrap(), tls)
        .await
        .expect("upgrade over TLS");
    assert_eq!(next_json(&mut ws).await["type"], "connected");
    ws.send(Message::Text(
        json!({"action": "stream", "requestId": "r", "prompt": "[[sim tokens=5 rate=100]] wss"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut seqs = Vec::new();
    loop {
        let m = next_json(&mut ws).await;
        if m["requestId"] == "r" && m["seq"].is_u64() {
            seqs.push(m["seq"].as_u64().unwrap());
            if m["isComplete"] == true {
                break;
            }
        }
    }
    assert_eq!(seqs, (0..6).collect::<Vec<_>>());
    gw.shutdown().await;
}

/// The next JSON message on `ws` (pings are answered as it reads).
async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match within(Duration::from_secs(15), ws.next())
            .await
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn pem_files_are_served_and_half_a_tls_setting_refuses_to_start() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = spillway::edge::self_signed::load_or_create(certs.path()).unwrap();
    let gw = Gateway::with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    assert!(
        !gw.data_dir().join(CERT_FILE).exists(),
        "no self-signed one made"
    );
    let pem = std::fs::read(&cert).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let r = http.get(https(&gw, "/healthz")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    gw.shutdown().await;

    let mut config = spillway::config::Config::local_defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = certs.path().to_path_buf();
    for (cert, key, mode) in [
        (Some(cert.clone()), None, None),
        (None, Some(key.clone()), None),
        (
            Some(cert.clone()),
            Some(key.clone()),
            Some(TlsMode::SelfSigned),
        ),
    ] {
        let mut c = config.clone();
        (c.tls_cert, c.tls_key, c.tls) = (cert, key, mode);
        assert!(matches!(
            spillway::server::Server::start(c).await,
            Err(spillway::server::StartupError::TlsConfig)
        ));
    }
}
