//! Parley's HTTP surface: `/health` and `/api/v1/status` (registrations and calls in progress).
//! Reads the SIP server's status snapshot; never touches SIP or media itself.
#![warn(missing_docs)]

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use parley_sip::{snapshot, Status, StatusHandle};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The SIP server's live status.
    pub status: StatusHandle,
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn status(State(s): State<AppState>) -> Json<Status> {
    Json(snapshot(&s.status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn health_answers_ok() {
        let app = app(AppState {
            status: Default::default(),
        });
        let resp = app
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}
