//! The dashboard's HTTP server: the router on hyper's HTTP/1 connections,
//! with what `axum::serve` leaves out against clients that connect and
//! never finish a request. Each connection must send its request's headers
//! within [`HEADER_READ_TIMEOUT`] (also between requests on a kept-alive
//! one), and at most [`MAX_CONNECTIONS`] are open at once: beyond them,
//! new clients wait in the kernel's accept queue, holding none of the
//! process's file descriptors, so slow clients cannot exhaust them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How long a connection may take to send a request's headers: a browser
/// sends them at once, so this only ends clients that stall.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once: a few per open page, well under the
/// process's descriptor limit with Kafka's and Cassandra's.
pub const MAX_CONNECTIONS: usize = 128;

/// Serves `app` on `listener` until `stop`, then lets the requests under
/// way finish.
pub async fn serve(listener: TcpListener, app: Router, stop: CancellationToken) {
    let room = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = room.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait instead of spinning.
                    warn!("the dashboard cannot accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!("a dashboard connection ended: {error}");
            }
            drop(permit);
        });
    }
    graceful.shutdown().await;
}
