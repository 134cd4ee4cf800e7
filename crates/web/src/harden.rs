//! The HTTP side's outer defences, applied to every route before any handler (and so before any
//! authentication) runs: request bodies are limited (64 KiB; greeting uploads 32 MB) and, except for
//! uploads, read whole before the request goes on, so an oversized login costs nothing; a handler that
//! panics answers 500 (logged) instead of dropping the connection; and every response carries security
//! headers (a Content-Security-Policy that allows this site's own scripts and styles only, no framing,
//! no sniffing, no referrer across origins).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The largest body of any request but a greeting upload.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The largest body of a greeting upload (the file and the form around it).
pub const UPLOAD_BODY_LIMIT: usize = crate::greetings::UPLOAD_LIMIT + 64 * 1024;

/// Whether a request is a greeting upload (API `PUT .../greetings/{kind}` or the portal's form).
fn is_upload(method: &Method, path: &str) -> bool {
    let api = method == Method::PUT
        && path.starts_with("/api/v1/mailboxes/")
        && path.split('/').nth(5) == Some("greetings")
        && path.split('/').count() == 7;
    let portal = method == Method::POST && path == "/greetings/upload";
    api || portal
}

/// 413, as JSON for the APIs (like their other errors) and as text elsewhere.
fn too_large(path: &str, limit: usize) -> Response {
    let message = if limit >= 1 << 20 {
        format!("the request is larger than {} MB", limit >> 20)
    } else {
        format!("the request is larger than {} KiB", limit >> 10)
    };
    if path.starts_with("/api/") {
        let body = serde_json::json!({ "code": "too_large", "message": message, "field": "body" });
        (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
    } else {
        (StatusCode::PAYLOAD_TOO_LARGE, message + "\n").into_response()
    }
}

/// Limit the request body; for everything but uploads, read it whole first.
pub async fn limit_body(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let upload = is_upload(req.method(), &path);
    let limit = if upload {
        UPLOAD_BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(&path, limit);
    }
    if upload {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => too_large(&path, limit),
    }
}

/// A handler that panics fails its own request with 500; the server and every other request go on.
pub async fn contain_panics(req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let what = format!("{} {}", req.method(), req.uri().path());
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(request = %parley_core::text::Printable(&what), "an HTTP handler faulted; answered 500");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// The Content-Security-Policy of every response: the portal's own CSS and script only (no inline
/// code), audio and images from this site, forms posted here, never framed.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
object-src 'none'";

/// Add the security headers to a response (those a handler set itself are kept).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn faulty() -> &'static str {
        let s = String::from("%€");
        let _ = &s[..2];
        "unreachable"
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_next_request_is_served() {
        let app = axum::Router::new()
            .route("/fault", axum::routing::get(faulty))
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(contain_panics))
            .layer(axum::middleware::from_fn(security_headers))
            .layer(axum::middleware::from_fn(limit_body));
        let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
        let r = app.clone().oneshot(get("/fault")).await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let r = app.clone().oneshot(get("/ok")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let big = Request::post("/ok")
            .header(header::CONTENT_LENGTH, "70000")
            .body(Body::from(vec![0u8; 70000]))
            .unwrap();
        assert_eq!(
            app.oneshot(big).await.unwrap().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn only_greeting_uploads_get_the_large_limit() {
        assert!(is_upload(
            &Method::PUT,
            "/api/v1/mailboxes/101/greetings/busy"
        ));
        assert!(is_upload(&Method::POST, "/greetings/upload"));
        assert!(!is_upload(&Method::POST, "/api/v1/session"));
        assert!(!is_upload(&Method::PUT, "/api/v1/mailboxes/101/greetings"));
        assert!(!is_upload(
            &Method::PUT,
            "/api/v1/mailboxes/101/greetings/busy/x"
        ));
        assert!(!is_upload(
            &Method::GET,
            "/api/v1/mailboxes/101/greetings/busy"
        ));
    }
}
