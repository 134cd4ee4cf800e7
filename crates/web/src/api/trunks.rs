//! Trunks and the company's numbers (administrators): list with their live state, add, change,
//! remove. The password is write-only. The model is [`crate::trunks`], shared with the portal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::{ApiResult, Body, Caller, P};
use crate::trunks::{self, DidInput, DidOut, TrunkInput, TrunkOut};
use crate::AppState;

/// Every trunk, by name, with its state in the running SIP server.
#[utoipa::path(get, path = "/api/v1/trunks", tag = "trunks",
    responses((status = 200, body = Vec<TrunkOut>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_trunks(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<TrunkOut>>> {
    caller.admin()?;
    Ok(Json(trunks::list(&s).await?))
}

/// Add a trunk (`name` and `host` required; registering when a username is given). The SIP server
/// takes it at once.
#[utoipa::path(post, path = "/api/v1/trunks", tag = "trunks", request_body = TrunkInput,
    responses((status = 201, body = TrunkOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn create_trunk(
    caller: Caller,
    State(s): State<AppState>,
    Body(input): Body<TrunkInput>,
) -> ApiResult<(StatusCode, Json<TrunkOut>)> {
    caller.admin()?;
    Ok((
        StatusCode::CREATED,
        Json(trunks::add(&s, &caller, &input).await?),
    ))
}

/// One trunk.
#[utoipa::path(get, path = "/api/v1/trunks/{name}", tag = "trunks",
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = TrunkOut), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_trunk(
    caller: Caller,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<Json<TrunkOut>> {
    caller.admin()?;
    Ok(Json(trunks::get(&s, &name).await?))
}

/// Change a trunk: only what is given changes (an empty `password` clears it; it is never shown).
#[utoipa::path(patch, path = "/api/v1/trunks/{name}", tag = "trunks", request_body = TrunkInput,
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 200, body = TrunkOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn patch_trunk(
    caller: Caller,
    State(s): State<AppState>,
    P(name): P<String>,
    Body(input): Body<TrunkInput>,
) -> ApiResult<Json<TrunkOut>> {
    caller.admin()?;
    Ok(Json(trunks::update(&s, &caller, &name, &input).await?))
}

/// Remove a trunk (the SIP server removes its registration at the carrier).
#[utoipa::path(delete, path = "/api/v1/trunks/{name}", tag = "trunks",
    params(("name" = String, Path, description = "Trunk name")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_trunk(
    caller: Caller,
    State(s): State<AppState>,
    P(name): P<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    trunks::remove(&s, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The company's numbers (DIDs) and where their calls go.
#[utoipa::path(get, path = "/api/v1/dids", tag = "trunks",
    responses((status = 200, body = Vec<DidOut>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_dids(caller: Caller, State(s): State<AppState>) -> ApiResult<Json<Vec<DidOut>>> {
    caller.admin()?;
    Ok(Json(trunks::dids(&s).await?))
}

/// Point a number (E.164) at an extension or straight at a mailbox's greeting.
#[utoipa::path(put, path = "/api/v1/dids/{number}", tag = "trunks", request_body = DidInput,
    params(("number" = String, Path, description = "The number in E.164 (+15855550101)")),
    responses((status = 200, body = DidOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn put_did(
    caller: Caller,
    State(s): State<AppState>,
    P(number): P<String>,
    Body(input): Body<DidInput>,
) -> ApiResult<Json<DidOut>> {
    caller.admin()?;
    Ok(Json(trunks::set_did(&s, &caller, &number, &input).await?))
}

/// Remove a number (its calls then go to the default destination, or get 404).
#[utoipa::path(delete, path = "/api/v1/dids/{number}", tag = "trunks",
    params(("number" = String, Path, description = "The number in E.164")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_did(
    caller: Caller,
    State(s): State<AppState>,
    P(number): P<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    trunks::remove_did(&s, &caller, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}
