//! Extractors whose rejections are [`Refusal`]s, so malformed paths, queries and
//! oversized bodies are answered in the grid's JSON shape like every other error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::Refusal;

/// Path parameters, as axum's `Path`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| Refusal::new(e.status(), e.body_text()))
    }
}

/// Query parameters, as axum's `Query`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| Refusal::new(e.status(), e.body_text()))
    }
}

/// The raw body, within the configured size limit (413 beyond it).
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &S) -> Result<Self, Refusal> {
        Bytes::from_request(req, state).await.map(Self).map_err(|e| {
            let status = e.status();
            let message = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is larger than the grid accepts".to_owned()
            } else {
                e.body_text()
            };
            Refusal::new(status, message)
        })
    }
}

impl ApiBody {
    /// Parses the body as the JSON object `T`, saying what was wrong if it is not.
    ///
    /// Every body the grid takes is an object: serde would also fill a struct from an
    /// array of its fields in order, which no client means to send.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, Refusal> {
        let first = self.0.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            return Err(Refusal::bad_request(format!("{what} is not valid: it must be a JSON object")));
        }
        serde_json::from_slice(&self.0).map_err(|e| Refusal::bad_request(format!("{what} is not valid: {e}")))
    }
}

/// The `X-Side-Key` header, when sent: the key that proves a caller holds a
/// registration's channel (changing a protected registration, writing its storage).
pub struct PresentedSideKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PresentedSideKey {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refusal> {
        match parts.headers.get(SIDE_KEY_HEADER) {
            None => Ok(Self(None)),
            Some(value) => value
                .to_str()
                .map(|key| Self(Some(key.to_owned())))
                .map_err(|_| Refusal::bad_request("the X-Side-Key header is not printable ASCII")),
        }
    }
}

impl PresentedSideKey {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The header that carries a registration's side key.
pub const SIDE_KEY_HEADER: &str = "x-side-key";

/// Who is asking, as far as throttling can tell: the peer's IP address (an IPv6
/// address by its /64, which one subscriber usually holds whole). `serve` puts the peer
/// in the request; on Lambda it is API Gateway's `sourceIp`. Never a client-sent
/// header such as `X-Forwarded-For`, which anyone can forge.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

impl ClientAddress {
    /// The client address of a request with these extensions (for a middleware that
    /// needs it only sometimes, and so does not extract it from every request).
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        Self(match Self::ip(extensions) {
            Some(std::net::IpAddr::V6(v6)) => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        })
    }

    /// The same client as an address, without formatting it: an IPv4 address as it is
    /// (an IPv4-mapped IPv6 one too), an IPv6 one cut to its /64.
    pub fn ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
        let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        #[cfg(feature = "lambda")]
        let peer = peer.or_else(|| match extensions.get::<lambda_http::request::RequestContext>() {
            Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
                context.http.source_ip.as_deref()?.parse().ok()
            }
            _ => None,
        });
        peer.map(Self::client_of)
    }

    /// The client a peer address stands for: an IPv4 address as it is (an IPv4-mapped
    /// IPv6 one too), an IPv6 one cut to its /64. What `serve` counts connections by.
    pub fn client_of(peer: std::net::IpAddr) -> std::net::IpAddr {
        use std::net::{IpAddr, Ipv6Addr};
        match peer {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let [a, b, c, d, ..] = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
                }
            },
            ip => ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::ClientAddress;

    fn client(peer: &str) -> IpAddr {
        ClientAddress::client_of(peer.parse().unwrap())
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_an_ipv4_one_its_address() {
        assert_eq!(client("2001:db8::1"), client("2001:db8::ffff:1234"), "one /64, one client");
        assert_ne!(client("2001:db8::1"), client("2001:db8:0:1::1"), "the next /64 is another");
        assert_eq!(client("::ffff:192.0.2.7"), client("192.0.2.7"), "IPv4-mapped is the IPv4 address");
        assert_ne!(client("192.0.2.7"), client("192.0.2.8"));
    }
}
