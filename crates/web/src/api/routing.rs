//! Presence and call routes: any user may read another's presence (the Directory shows it); users
//! change their own presence, and their own routes with the `routes` privilege; administrators
//! change anyone's. The model is [`crate::routing`], shared with the portal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::{store, ApiError, ApiResult, Body, Caller, P};
use crate::routing::{self, PresenceBody, RouteBody, RoutingOut};
use crate::AppState;

/// A user's presence (any logged-in user may read it).
#[utoipa::path(get, path = "/api/v1/users/{extension}/presence", tag = "routing",
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = PresenceBody), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_presence(
    _caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<PresenceBody>> {
    let st = store(&s)?;
    if st
        .get_user(&ext)
        .await
        .map_err(|e| ApiError::store(e, ""))?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "extension {ext} does not exist"
        )));
    }
    let r = st.routing(&ext).await.map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(r.presence.into()))
}

/// Change a user's presence (the user, or an administrator); the next call follows its route.
#[utoipa::path(put, path = "/api/v1/users/{extension}/presence", tag = "routing", request_body = PresenceBody,
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = PresenceBody), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_presence(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Body(b): Body<PresenceBody>,
) -> ApiResult<Json<PresenceBody>> {
    let p = routing::presence(&b.presence)?;
    Ok(Json(routing::set_presence(&s, &caller, &ext, p).await?))
}

/// A user's presence and the route of every presence (the user, or an administrator).
#[utoipa::path(get, path = "/api/v1/users/{extension}/routes", tag = "routing",
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = RoutingOut), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_routes(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<RoutingOut>> {
    Ok(Json(routing::routing(&s, &caller, &ext).await?))
}

/// Set the call route of one presence (the user with the `routes` privilege, or an
/// administrator).
#[utoipa::path(put, path = "/api/v1/users/{extension}/routes/{presence}", tag = "routing", request_body = RouteBody,
    params(("extension" = String, Path, description = "Extension"), ("presence" = String, Path, description = "Presence (in-office, …)")),
    responses((status = 200, body = RoutingOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_route(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, presence)): P<(String, String)>,
    Body(b): Body<RouteBody>,
) -> ApiResult<Json<RoutingOut>> {
    let p = routing::presence(&presence)?;
    Ok(Json(
        routing::set_route(&s, &caller, &ext, p, Some(b.route())).await?,
    ))
}

/// Put the route of one presence back to the default (the handsets, then voicemail).
#[utoipa::path(delete, path = "/api/v1/users/{extension}/routes/{presence}", tag = "routing",
    params(("extension" = String, Path, description = "Extension"), ("presence" = String, Path, description = "Presence (in-office, …)")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_route(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, presence)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = routing::presence(&presence)?;
    routing::set_route(&s, &caller, &ext, p, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
