//! Notifications (administrators): webhook subscriptions and the outbox of emails, SMS and webhook
//! deliveries, with retry of failed ones.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use parley_store::Event;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{audit, store, ApiError, ApiResult, Body, Caller, Page, Paging, P, Q};
use crate::AppState;

/// A webhook (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    /// Id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Events it receives.
    pub events: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A webhook just created, with its signing secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// Id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// Events it receives.
    pub events: Vec<String>,
    /// HMAC-SHA256 key: each delivery carries `X-Parley-Signature: t=<unix>,v1=<hex of
    /// HMAC(secret, "<t>.<body>")>`.
    pub secret: String,
}

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// `message.new`, `message.read`, `message.deleted`, `alert.outside_limit`, `presence.changed` (default: the three message events).
    #[serde(default)]
    pub events: Vec<String>,
    /// Signing secret, at least 16 characters (default: a random one).
    pub secret: Option<String>,
}

/// Registered webhooks.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications",
    responses((status = 200, body = Vec<WebhookOut>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_webhooks(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<WebhookOut>>> {
    caller.admin()?;
    let list = store(&s)?
        .webhooks()
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(
        list.into_iter()
            .map(|h| WebhookOut {
                id: h.id,
                url: h.url,
                events: h.events,
                created_at: h.created_at,
            })
            .collect(),
    ))
}

/// Register a webhook; the answer holds its signing secret, shown only once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn create_webhook(
    caller: Caller,
    State(s): State<AppState>,
    Body(w): Body<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    caller.admin()?;
    let events = if w.events.is_empty() {
        Event::MESSAGES.to_vec()
    } else {
        w.events
            .iter()
            .map(|e| Event::parse(e).map_err(|e| ApiError::store(e, "events")))
            .collect::<ApiResult<Vec<_>>>()?
    };
    let field = if w.secret.as_ref().is_some_and(|x| x.len() < 16) {
        "secret"
    } else {
        "url"
    };
    let st = store(&s)?;
    let (id, secret) = st
        .add_webhook(&w.url, w.secret.as_deref(), &events)
        .await
        .map_err(|e| ApiError::store(e, field))?;
    let hook = st
        .webhook(id)
        .await
        .map_err(|e| ApiError::store(e, ""))?
        .ok_or_else(|| ApiError::not_found("webhook vanished"))?;
    audit(
        &s,
        &caller,
        "webhook.add",
        &format!("webhook/{id}"),
        &hook.url,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            id,
            url: hook.url,
            events: hook.events,
            secret,
        }),
    ))
}

/// Remove a webhook.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_webhook(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<i64>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    if !store(&s)?
        .delete_webhook(id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
    {
        return Err(ApiError::not_found(format!("no webhook {id}")));
    }
    audit(&s, &caller, "webhook.remove", &format!("webhook/{id}"), "").await;
    Ok(StatusCode::NO_CONTENT)
}

/// One notification in the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxOut {
    /// Id.
    pub id: i64,
    /// `email`, `sms` or `webhook`.
    pub channel: String,
    /// Address, mobile number or webhook id.
    pub target: String,
    /// `message.new`, `message.read`, `message.deleted`, `alert.outside_limit` or `presence.changed`.
    pub event: String,
    /// Id of the message concerned.
    pub message_id: Option<i64>,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Unix seconds of the next attempt (pending).
    pub next_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix seconds when queued.
    pub created_at: i64,
    /// Unix seconds when sent or given up.
    pub done_at: Option<i64>,
}

/// Outbox filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only this state: `pending`, `sent` or `failed`.
    pub state: Option<String>,
    /// Page number, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<u32>,
}

/// The outbox, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "notifications", params(OutboxQuery),
    responses((status = 200, body = Page<OutboxOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_outbox(
    caller: Caller,
    State(s): State<AppState>,
    Q(q): Q<OutboxQuery>,
) -> ApiResult<Json<Page<OutboxOut>>> {
    caller.admin()?;
    let all = store(&s)?
        .outbox_list(q.state.as_deref(), 10_000)
        .await
        .map_err(|e| ApiError::store(e, "state"))?;
    let items = all
        .into_iter()
        .map(|i| OutboxOut {
            message_id: i.message().ok().map(|m| m.id),
            id: i.id,
            channel: i.channel.as_str().into(),
            target: i.target,
            event: i.event,
            state: i.state,
            attempts: i.attempts,
            next_at: i.next_at,
            last_error: i.last_error,
            created_at: i.created_at,
            done_at: i.done_at,
        })
        .collect();
    Ok(Json(
        Paging {
            page: q.page,
            per_page: q.per_page,
        }
        .apply(items)?,
    ))
}

/// How many notifications were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    /// Count.
    pub retried: u64,
}

/// Queue a failed notification again, due now.
#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "notifications",
    params(("id" = i64, Path, description = "Outbox id")),
    responses((status = 200, body = Retried), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn retry_one(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<i64>,
) -> ApiResult<Json<Retried>> {
    caller.admin()?;
    let n = store(&s)?
        .outbox_retry(Some(id))
        .await
        .map_err(|e| ApiError::store(e, "id"))?;
    if n == 0 {
        return Err(ApiError::not_found(format!("no failed notification {id}")));
    }
    audit(&s, &caller, "outbox.retry", &format!("outbox/{id}"), "").await;
    Ok(Json(Retried { retried: n }))
}

/// Queue every failed notification again, due now.
#[utoipa::path(post, path = "/api/v1/outbox/retry", tag = "notifications",
    responses((status = 200, body = Retried), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn retry_all(caller: Caller, State(s): State<AppState>) -> ApiResult<Json<Retried>> {
    caller.admin()?;
    let n = store(&s)?
        .outbox_retry(None)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    audit(&s, &caller, "outbox.retry", "outbox/all", &n.to_string()).await;
    Ok(Json(Retried { retried: n }))
}
