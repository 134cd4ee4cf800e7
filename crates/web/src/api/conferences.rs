//! The Conference Center: My Conferences (a user's conferences as Creator or Moderator, every one for
//! administrators), scheduling, changing, canceling, ending and deleting, the live participants and
//! disconnecting one, the statistics of past sessions, the free times of a day, and the unscheduled
//! conferences' settings (administrators). The model is [`crate::conferences`], shared with the
//! portal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiResult, Body, Caller, P, Q};
use crate::conferences::{
    self, AvailabilityOut, ConferenceInput, ConferenceOut, ParticipantOut, SessionOut,
    UnscheduledInput,
};
use crate::AppState;

/// The conferences the caller is the Creator or a Moderator of (every one for administrators), with
/// their state and who is in them.
#[utoipa::path(get, path = "/api/v1/conferences", tag = "conferences",
    responses((status = 200, body = Vec<ConferenceOut>), (status = 401, body = super::ErrorBody)))]
pub async fn list_conferences(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<ConferenceOut>>> {
    Ok(Json(conferences::list(&s, &caller).await?))
}

/// Schedule a conference (the `conferences` privilege, or an administrator). The system assigns the
/// Conference ID and password; `conflicts` lists the conferences whose times overlap.
#[utoipa::path(post, path = "/api/v1/conferences", tag = "conferences", request_body = ConferenceInput,
    responses((status = 201, body = ConferenceOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn create_conference(
    caller: Caller,
    State(s): State<AppState>,
    Body(input): Body<ConferenceInput>,
) -> ApiResult<(StatusCode, Json<ConferenceOut>)> {
    Ok((
        StatusCode::CREATED,
        Json(conferences::add(&s, &caller, &input).await?),
    ))
}

/// One conference (its Creator, a Moderator, or an administrator).
#[utoipa::path(get, path = "/api/v1/conferences/{id}", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = ConferenceOut), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<ConferenceOut>> {
    Ok(Json(conferences::get(&s, &caller, &id).await?))
}

/// Change a scheduled conference: description, date and time, duration, repetition, Moderators (the
/// ID and password stay; an expired conference moved to a future time is queued again).
#[utoipa::path(put, path = "/api/v1/conferences/{id}", tag = "conferences", request_body = ConferenceInput,
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = ConferenceOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
    Body(input): Body<ConferenceInput>,
) -> ApiResult<Json<ConferenceOut>> {
    Ok(Json(conferences::change(&s, &caller, &id, &input).await?))
}

/// Open or close an unscheduled conference, or give it a new password (administrators).
#[utoipa::path(patch, path = "/api/v1/conferences/{id}", tag = "conferences", request_body = UnscheduledInput,
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = ConferenceOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn patch_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
    Body(input): Body<UnscheduledInput>,
) -> ApiResult<Json<ConferenceOut>> {
    Ok(Json(
        conferences::change_unscheduled(&s, &caller, &id, &input).await?,
    ))
}

/// Delete a scheduled conference (ended first if in session).
#[utoipa::path(delete, path = "/api/v1/conferences/{id}", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<StatusCode> {
    conferences::delete(&s, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a scheduled conference: ended if in session, then Canceled.
#[utoipa::path(post, path = "/api/v1/conferences/{id}/cancel", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = ConferenceOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn cancel_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<ConferenceOut>> {
    Ok(Json(conferences::cancel(&s, &caller, &id).await?))
}

/// How many were in a conference that was ended.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Ended {
    /// Participants whose calls ended.
    pub participants: usize,
}

/// End the session in progress: everyone in it is told and their calls end.
#[utoipa::path(post, path = "/api/v1/conferences/{id}/end", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = Ended), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn end_conference(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<Ended>> {
    Ok(Json(Ended {
        participants: conferences::end(&s, &caller, &id).await?,
    }))
}

/// Who is in the conference now, and who is talking.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/participants", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = Vec<ParticipantOut>), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn list_participants(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<Vec<ParticipantOut>>> {
    Ok(Json(conferences::get(&s, &caller, &id).await?.participants))
}

/// Disconnect a participant: its call ends.
#[utoipa::path(delete, path = "/api/v1/conferences/{id}/participants/{call}", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID"), ("call" = u64, Path, description = "The participant's call")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn disconnect_participant(
    caller: Caller,
    State(s): State<AppState>,
    P((id, call)): P<(String, u64)>,
) -> ApiResult<StatusCode> {
    conferences::disconnect(&s, &caller, &id, call).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The statistics of past sessions: each session's attendees, join and leave times and durations.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/sessions", tag = "conferences",
    params(("id" = String, Path, description = "Conference ID")),
    responses((status = 200, body = Vec<SessionOut>), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn list_sessions(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<String>,
) -> ApiResult<Json<Vec<SessionOut>>> {
    Ok(Json(conferences::sessions(&s, &caller, &id).await?))
}

/// Which day's free times to show.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// A tz database name (default: the server's).
    pub time_zone: Option<String>,
}

/// The periods of a day when another conference can be scheduled without a conflict over rooms.
#[utoipa::path(get, path = "/api/v1/conference-availability", tag = "conferences",
    params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn availability(
    _caller: Caller,
    State(s): State<AppState>,
    Q(q): Q<AvailabilityQuery>,
) -> ApiResult<Json<AvailabilityOut>> {
    Ok(Json(
        conferences::availability(&s, &q.date, q.time_zone.as_deref()).await?,
    ))
}
