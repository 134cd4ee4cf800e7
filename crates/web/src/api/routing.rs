//! Presence and call routes: any user may read another's presence (the Directory shows it); users
//! change their own presence, and their own routes with the `routes` privilege; administrators
//! change anyone's. The model is [`crate::routing`], shared with the portal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::{store, ApiError, ApiResult, Body, Caller, P};
use crate::routing::{
    self, CallerRouteBody, ForwardingBody, PresenceBody, RouteBody, RouteChange, RoutingOut,
};
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
    let change = RouteChange::Route(p, Some(b.route()));
    Ok(Json(
        routing::change_routes(&s, &caller, &ext, change).await?,
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
    routing::change_routes(&s, &caller, &ext, RouteChange::Route(p, None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set the On-Busy route of one presence: used instead of the whole route while the user is on a
/// call (the user with the `routes` privilege, or an administrator).
#[utoipa::path(put, path = "/api/v1/users/{extension}/routes/{presence}/on-busy", tag = "routing", request_body = RouteBody,
    params(("extension" = String, Path, description = "Extension"), ("presence" = String, Path, description = "Presence (in-office, …)")),
    responses((status = 200, body = RoutingOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_busy_route(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, presence)): P<(String, String)>,
    Body(b): Body<RouteBody>,
) -> ApiResult<Json<RoutingOut>> {
    let p = routing::presence(&presence)?;
    let change = RouteChange::OnBusy(p, Some(b.route()));
    Ok(Json(
        routing::change_routes(&s, &caller, &ext, change).await?,
    ))
}

/// Remove the On-Busy route of one presence.
#[utoipa::path(delete, path = "/api/v1/users/{extension}/routes/{presence}/on-busy", tag = "routing",
    params(("extension" = String, Path, description = "Extension"), ("presence" = String, Path, description = "Presence (in-office, …)")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_busy_route(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, presence)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = routing::presence(&presence)?;
    routing::change_routes(&s, &caller, &ext, RouteChange::OnBusy(p, None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the Caller-ID routes of one presence (tried in order, before its route; an empty list
/// removes them).
#[utoipa::path(put, path = "/api/v1/users/{extension}/routes/{presence}/callers", tag = "routing", request_body = Vec<CallerRouteBody>,
    params(("extension" = String, Path, description = "Extension"), ("presence" = String, Path, description = "Presence (in-office, …)")),
    responses((status = 200, body = RoutingOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_caller_routes(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, presence)): P<(String, String)>,
    Body(list): Body<Vec<CallerRouteBody>>,
) -> ApiResult<Json<RoutingOut>> {
    let p = routing::presence(&presence)?;
    let routes = list
        .iter()
        .map(CallerRouteBody::caller_route)
        .collect::<ApiResult<Vec<_>>>()?;
    let change = RouteChange::Callers(p, routes);
    Ok(Json(
        routing::change_routes(&s, &caller, &ext, change).await?,
    ))
}

/// Callisto's forwarding settings (Unconditional, Busy, No Answer) of the user's current presence.
#[utoipa::path(get, path = "/api/v1/users/{extension}/forwarding", tag = "routing",
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = ForwardingBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_forwarding(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<ForwardingBody>> {
    caller.owner_or_admin(&ext)?;
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
    Ok(Json(ForwardingBody::from(&r.forwarding())))
}

/// Set Callisto's forwarding settings: they rewrite the current presence's route and On-Busy route
/// (the user with the `routes` privilege, or an administrator).
#[utoipa::path(put, path = "/api/v1/users/{extension}/forwarding", tag = "routing", request_body = ForwardingBody,
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = ForwardingBody), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_forwarding(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Body(b): Body<ForwardingBody>,
) -> ApiResult<Json<ForwardingBody>> {
    routing::change_routes(&s, &caller, &ext, RouteChange::Forwarding(b.forwarding())).await?;
    let r = store(&s)?
        .routing(&ext)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(ForwardingBody::from(&r.forwarding())))
}
