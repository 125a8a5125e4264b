//! HTTP: the axum router, shared state and the server loop.

use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::ledger::Ledger;

pub mod api;
pub mod auth;
pub mod error;
pub mod scan;

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Verification and storage.
    pub ledger: Ledger,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    api::router()
        .fallback(scan::scan)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
