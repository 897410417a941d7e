//! The connection layer under the application: accepting TCP, terminating TLS, speaking HTTP/1.1
//! and HTTP/2, and the limits that protect the server from slow or oversized clients.
//!
//! hyper does the protocol work; this module wires it here rather than through `poem::Server`
//! because poem does not expose what a public server needs: a header read timeout (which also
//! closes idle keep-alive connections), a cap on header count and size, and a TLS listener whose
//! certificate can be replaced while connections stay up.

pub mod tls;
mod write_deadline;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::{Addr, Body, Endpoint, Request};
use tokio::net::TcpListener;
use write_deadline::WriteDeadline;

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits on what one connection may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers, counted from when the server starts waiting for them;
    /// an idle keep-alive connection is closed after it too.
    pub header_read_timeout: Duration,
    /// Time to send a request's whole body, counted from its headers.
    pub body_read_timeout: Duration,
    /// Time a client may take in nothing of a response before its connection is dropped.
    pub write_timeout: Duration,
    /// Most header fields in one HTTP/1.1 request (more get 431).
    pub max_headers: usize,
    /// Most bytes of request line and headers (HTTP/1.1: more get 431; HTTP/2: the header list).
    pub max_header_bytes: usize,
    /// Most connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<tls::Reloading>>,
    app: BoxEndpoint<'static>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let app = Arc::new(app);
    let graceful = GracefulShutdown::new();
    let local = listener.local_addr().ok();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, new clients wait in the kernel's backlog, not in our memory.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::warn!(
                    "{} connections are open, the most allowed; new ones wait",
                    limits.max_connections
                );
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                }
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let stream = WriteDeadline::new(stream, limits.write_timeout);
        let connection = Connection {
            app: app.clone(),
            limits,
            local,
            peer,
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection.serve(stream, Scheme::HTTP, watcher).await,
                Some(tls) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => connection.serve(stream, Scheme::HTTPS, watcher).await,
                        Ok(Err(err)) => {
                            tracing::debug!(peer = %peer, "TLS handshake failed: {err}")
                        }
                        Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("requests still running after {} s; closing their connections", grace.as_secs());
        }
    }
}

struct Connection {
    app: Arc<BoxEndpoint<'static>>,
    limits: Limits,
    local: Option<SocketAddr>,
    peer: SocketAddr,
}

impl Connection {
    async fn serve<S>(
        self,
        stream: S,
        scheme: Scheme,
        watcher: hyper_util::server::graceful::Watcher,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            app,
            limits,
            local,
            peer,
        } = self;
        let local_addr = poem::web::LocalAddr(
            local.map_or(Addr::Custom("unknown", "".into()), Addr::SocketAddr),
        );
        let remote_addr = poem::web::RemoteAddr(Addr::SocketAddr(peer));
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let app = app.clone();
            let mut request = Request::from((
                request,
                local_addr.clone(),
                remote_addr.clone(),
                scheme.clone(),
            ));
            let body = request.take_body();
            request.set_body(with_deadline(body, limits.body_read_timeout));
            async move {
                let response = app.get_response(request).await;
                Ok::<_, std::convert::Infallible>(hyper::Response::from(response))
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers)
            .max_buf_size(limits.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(limits.header_read_timeout)
            .keep_alive_timeout(Duration::from_secs(20));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        if let Err(err) = watcher.watch(connection).await {
            tracing::debug!(peer = %peer, "connection ended: {err}");
        }
    }
}

/// The body, failing with `TimedOut` if it has not all arrived within `timeout`.
fn with_deadline(body: Body, timeout: Duration) -> Body {
    let deadline = tokio::time::Instant::now() + timeout;
    let chunks = body.into_bytes_stream();
    let limited = futures_util::stream::unfold(Some(Box::pin(chunks)), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )),
                None,
            )),
        }
    });
    Body::from_bytes_stream(limited)
}
