//! HTTP: the axum router, shared state and the server loop.

use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::app::ledger::Ledger;

pub mod api;
pub mod auth;
pub mod dock;
pub mod error;
pub mod inspect;
pub mod ratelimit;
pub mod report;
pub mod report_html;
pub mod scan;
pub mod tlog;

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Verification and storage.
    pub ledger: Ledger,
    /// The transparency log: tree, proofs, checkpoint signing (issue 7).
    pub log: std::sync::Arc<crate::tlog::service::LogService>,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    api::router()
        .merge(tlog::router())
        .merge(dock::router())
        .merge(inspect::router())
        .merge(report::router())
        .merge(scan::api_router())
        .fallback_service(scan::router(state.clone()))
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
    // Client addresses feed the scan page's rate limiter and scan log (issue 5).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
