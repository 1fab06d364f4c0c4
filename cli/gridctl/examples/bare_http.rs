//! The ceiling the HTTP benchmarks are held against: a bare hyper server on tokio's
//! multi-threaded runtime (as `gridctl serve` runs), with one route answering a fixed
//! small JSON body and nothing else: no router, no layers, no store. `make bench` drives
//! it with the same `wrk` settings beside each of the grid's HTTP workloads, so each
//! figure is also read as a share of what this machine's HTTP stack allows at that
//! moment.
//!
//! `cargo run --release -p gridctl --example bare_http [ADDRESS]` prints
//! `listening on http://ADDRESS` and serves until killed (default `127.0.0.1:0`).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = br#"{"success":true,"message":"ok"}"#;

async fn answer(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(answer);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
