//! Parley's own JSON REST API under `/api/v1`: the handlers, their authentication (HTTP Basic or an API
//! token), errors as JSON with a stable code, pagination, and the OpenAPI document, which utoipa builds
//! from the same handlers that are routed (so the document cannot drift from the routes).

pub(crate) mod account;
mod conferences;
mod groups;
mod notify;
mod routing;
pub mod session;
mod trunks;
mod voicemail;

pub(crate) use voicemail::{account_removed, mailbox_changed};

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parley_store::{Privilege, StoreError};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tracing::warn;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, AuthFailure};
use crate::AppState;

/// An API error: the HTTP status and the JSON body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `too_many_requests`, `internal`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
            },
        }
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// 400 naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, "invalid", message);
        e.body.field = Some(field.to_string());
        e
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 403.
    pub fn forbidden(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", why)
    }

    /// 409.
    pub fn conflict(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", why)
    }

    /// A store error as the right API error (validation messages name the field when given).
    pub fn store(e: StoreError, field: &str) -> ApiError {
        match e {
            StoreError::Invalid(m) => ApiError::invalid(field, m),
            StoreError::Duplicate(m) => ApiError::conflict(format!("{m} already exists")),
            StoreError::NotFound(m) => ApiError::not_found(format!("{m} does not exist")),
            other => {
                warn!(error = %other, "API store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> ApiError {
        match f {
            AuthFailure::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "authentication required: HTTP Basic (extension, password) or Bearer API token",
            ),
            AuthFailure::Locked => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many failed logins: try again later",
            ),
            AuthFailure::Internal => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            ),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The store, or 503 when the app runs without one (unit tests).
pub fn store(s: &AppState) -> ApiResult<&parley_store::Store> {
    s.store
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "internal", "no store"))
}

/// A JSON request body; a malformed one is refused with a JSON error naming `body`.
pub struct Body<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => {
                let mut err = ApiError::new(e.status(), "invalid", e.body_text());
                err.body.field = Some("body".into());
                Err(err)
            }
        }
    }
}

/// Query parameters; bad ones are refused with a JSON error.
pub struct Q<T>(pub T);

impl<S, T> FromRequestParts<S> for Q<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Q(v)),
            Err(e) => {
                let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.body_text());
                err.body.field = Some("query".into());
                Err(err)
            }
        }
    }
}

/// Path parameters; bad ones (a non-numeric id) are refused with a JSON error.
pub struct P<T>(pub T);

impl<S, T> FromRequestParts<S> for P<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(P(v)),
            Err(e) => {
                let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.body_text());
                err.body.field = Some("path".into());
                Err(err)
            }
        }
    }
}

/// The authenticated caller of an API request, with where the request came from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Account and privileges.
    pub who: auth::Caller,
    /// Source address.
    pub source: IpAddr,
}

impl Caller {
    /// Admin only.
    pub fn admin(&self) -> ApiResult<()> {
        if self.who.has(Privilege::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden("administrators only"))
        }
    }

    /// The caller itself, or an admin.
    pub fn owner_or_admin(&self, ext: &str) -> ApiResult<()> {
        if self.who.user == ext || self.who.has(Privilege::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only {ext} or an administrator may do this"
            )))
        }
    }
}

/// The address a request came from (loopback when unknown, as in tests without a socket).
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        ))
    }
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let store = store(state)?;
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            });
        let has_authorization = parts.headers.contains_key(header::AUTHORIZATION);
        if !has_authorization {
            if let Some((_, session)) = session::from_cookie(&state.sessions, &parts.headers) {
                // A browser: anything that changes state must echo the session's CSRF token.
                let safe = matches!(
                    parts.method,
                    axum::http::Method::GET | axum::http::Method::HEAD
                );
                let echoed = parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v == session.csrf);
                if !safe && !echoed {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "csrf",
                        "missing or wrong X-CSRF-Token for this session",
                    ));
                }
                return Ok(Caller {
                    who: session.who,
                    source,
                });
            }
        }
        if let Some(token) = bearer {
            return match store.token_owner(&token_hash(&token)).await {
                Ok(Some((user, privileges))) => Ok(Caller {
                    who: auth::Caller { user, privileges },
                    source,
                }),
                Ok(None) => Err(AuthFailure::Unauthorized.into()),
                Err(e) => Err(ApiError::store(e, "")),
            };
        }
        let who = auth::basic(store, &state.guard, &parts.headers, source).await?;
        Ok(Caller { who, source })
    }
}

/// Page selection of list endpoints.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<u32>,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// This page's number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items in the whole list.
    pub total: u64,
}

impl Paging {
    /// Cut one page out of a whole list.
    pub fn apply<T>(self, all: Vec<T>) -> ApiResult<Page<T>> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        if page == 0 {
            return Err(ApiError::invalid("page", "page starts at 1"));
        }
        if !(1..=500).contains(&per_page) {
            return Err(ApiError::invalid("per_page", "per_page must be 1 to 500"));
        }
        let total = all.len() as u64;
        let start = (u64::from(page - 1) * u64::from(per_page)).min(total) as usize;
        let items = all
            .into_iter()
            .skip(start)
            .take(per_page as usize)
            .collect();
        Ok(Page {
            items,
            page,
            per_page,
            total,
        })
    }
}

/// Record a change made through the API.
pub async fn audit(state: &AppState, caller: &Caller, action: &str, target: &str, detail: &str) {
    if let Some(store) = state.store.as_ref() {
        if let Err(e) = store
            .audit(
                parley_store::unix_now(),
                &caller.who.user,
                &caller.source.to_string(),
                action,
                target,
                detail,
            )
            .await
        {
            warn!(error = %e, "audit log write failed");
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley API", description = "Parley's JSON REST API. Authenticate with HTTP Basic (extension and password) or a Bearer API token."),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The routes of the JSON API and the OpenAPI document describing exactly them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login, session::logout))
        .routes(routes!(account::get_me, account::patch_me))
        .routes(routes!(account::put_my_pin))
        .routes(routes!(account::put_my_password))
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::delete_token))
        .routes(routes!(account::list_users, account::create_user))
        .routes(routes!(
            account::get_user,
            account::patch_user,
            account::delete_user
        ))
        .routes(routes!(account::list_registrations))
        .routes(routes!(account::list_calls))
        .routes(routes!(account::my_calls))
        .routes(routes!(account::list_audit))
        .routes(routes!(voicemail::list_messages))
        .routes(routes!(
            voicemail::get_message,
            voicemail::patch_message,
            voicemail::delete_message
        ))
        .routes(routes!(voicemail::message_audio))
        .routes(routes!(voicemail::forward_message))
        .routes(routes!(voicemail::list_greetings))
        .routes(routes!(
            voicemail::greeting_audio,
            voicemail::put_greeting,
            voicemail::delete_greeting
        ))
        .routes(routes!(voicemail::set_temporary))
        .routes(routes!(
            voicemail::get_announcements,
            voicemail::put_announcements
        ))
        .routes(routes!(notify::list_webhooks, notify::create_webhook))
        .routes(routes!(notify::delete_webhook))
        .routes(routes!(notify::list_outbox))
        .routes(routes!(notify::retry_one))
        .routes(routes!(notify::retry_all))
        .routes(routes!(trunks::list_trunks, trunks::create_trunk))
        .routes(routes!(
            trunks::get_trunk,
            trunks::patch_trunk,
            trunks::delete_trunk
        ))
        .routes(routes!(trunks::list_dids))
        .routes(routes!(
            conferences::list_conferences,
            conferences::create_conference
        ))
        .routes(routes!(
            conferences::get_conference,
            conferences::put_conference,
            conferences::patch_conference,
            conferences::delete_conference
        ))
        .routes(routes!(conferences::cancel_conference))
        .routes(routes!(conferences::end_conference))
        .routes(routes!(conferences::list_participants))
        .routes(routes!(conferences::disconnect_participant))
        .routes(routes!(conferences::list_sessions))
        .routes(routes!(conferences::availability))
        .routes(routes!(routing::get_presence, routing::put_presence))
        .routes(routes!(routing::get_routes))
        .routes(routes!(routing::put_route, routing::delete_route))
        .routes(routes!(routing::put_busy_route, routing::delete_busy_route))
        .routes(routes!(routing::put_caller_routes))
        .routes(routes!(routing::get_forwarding, routing::put_forwarding))
        .routes(routes!(trunks::put_did, trunks::delete_did))
        .routes(routes!(groups::list_instances, groups::create_instance))
        .routes(routes!(groups::delete_instance))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(
            groups::get_group,
            groups::patch_group,
            groups::delete_group
        ))
        .split_for_parts()
}
