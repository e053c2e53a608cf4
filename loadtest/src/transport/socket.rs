//! Opening WebSockets to the gateway: a TCP connection (from a chosen
//! loopback source address, when asked, so that many connections do not run
//! out of ports or hit the per-address limits), then the upgrade with
//! tokio-tungstenite. Plain `ws://` only: the load generator runs next to
//! the gateway.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::error::Error;

pub type Ws = WebSocketStream<TcpStream>;

/// A WebSocket route of the gateway.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    host: String,
    port: u16,
}

impl Endpoint {
    /// `path` on the gateway at `target` (`http://host:port`).
    pub fn new(target: &str, path: &str) -> Result<Self, Error> {
        let target = target.trim_end_matches('/');
        let rest = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("ws://"))
            .ok_or_else(|| {
                Error::Target(format!(
                    "{target}: WebSocket transports need an http:// target (no TLS)"
                ))
            })?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| Error::Target(format!("{target}: bad port {p:?}")))?,
            ),
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(Error::Target(format!("{target}: no host")));
        }
        Ok(Self {
            url: format!("ws://{rest}{path}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects (from `source`, when given) and upgrades, sending `headers`.
    pub async fn connect(
        &self,
        headers: &[(HeaderName, HeaderValue)],
        source: Option<IpAddr>,
    ) -> Result<Ws, String> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("bad WebSocket URL: {e}"))?;
        for (name, value) in headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let addr = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("resolving {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))?;
        let tcp = tcp_connect(addr, source)
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        match tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await {
            Ok((ws, _response)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                Err(format!(
                    "HTTP {}: {}",
                    resp.status(),
                    super::clip(&body, 200)
                ))
            }
            Err(e) => Err(format!("WebSocket upgrade failed: {e}")),
        }
    }
}

async fn tcp_connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Target("the token is not a valid header value".into()))?;
    Ok((header::AUTHORIZATION, value))
}

/// The next text message, answering nothing else (tungstenite queues the
/// pongs to pings itself); `Err` when the socket closes or breaks.
pub async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Binary(b))) => {
                return Utf8Bytes::try_from(b)
                    .map_err(|_| "a binary message that is not UTF-8".to_owned());
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(match frame {
                    Some(f) => format!("closed by the gateway: {} {}", f.code, f.reason),
                    None => "closed by the gateway".to_owned(),
                });
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("WebSocket broke: {e}")),
            None => return Err("the connection ended".to_owned()),
        }
    }
}

/// Closes politely, without waiting long for the gateway's answer.
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_targets() {
        let e = Endpoint::new("http://127.0.0.1:8080/", "/v1/ws").unwrap();
        assert_eq!(e.url(), "ws://127.0.0.1:8080/v1/ws");
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8080));
        let e = Endpoint::new("http://localhost", "/graphql").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("localhost", 80));
        let e = Endpoint::new("http://[::1]:9000", "/v1/ws").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 9000));
        assert!(Endpoint::new("https://example.com", "/v1/ws").is_err());
        assert!(Endpoint::new("http://h:x", "/v1/ws").is_err());
    }
}
