//! Mailboxes over the API: messages (list with folder and new filters, metadata, WAV download, move,
//! mark new/old, delete, forward) and greetings (list, download, upload, delete, temporary on/off).
//! Every change re-announces the mailbox's message-waiting state to its phones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parley_core::vm::GreetingKind;
use parley_sip::Control;
use parley_store::{StoredMessage, FOLDERS};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{audit, store, ApiError, ApiResult, Body, Caller, Page, Paging, P, Q};
use crate::AppState;

/// Tell the SIP server a mailbox's counts changed (lamps follow at once).
pub(crate) fn mailbox_changed(s: &AppState, ext: &str) {
    if let Some(c) = s.control.as_ref() {
        let _ = c.send(Control::MailboxChanged(ext.to_string()));
    }
}

/// A voicemail message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    /// Id.
    pub id: i64,
    /// Mailbox.
    pub mailbox: String,
    /// Folder: `new`, `old`, `work`, `family`, `friends`.
    pub folder: String,
    /// Not heard yet (in the New folder).
    pub new: bool,
    /// Caller's number.
    pub caller: Option<String>,
    /// Caller's name, when known.
    pub caller_name: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
    /// Length in milliseconds.
    pub duration_ms: i64,
}

impl From<StoredMessage> for MessageOut {
    fn from(m: StoredMessage) -> MessageOut {
        MessageOut {
            new: m.folder == "new",
            id: m.id,
            mailbox: m.mailbox,
            folder: m.folder,
            caller: m.caller,
            caller_name: m.caller_name,
            received_at: m.received_at,
            duration_ms: m.duration_ms,
        }
    }
}

/// Filters of the message list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// Only this folder (`new`, `old`, `work`, `family`, `friends`).
    pub folder: Option<String>,
    /// Only unheard (`true`) or heard (`false`) messages.
    pub new: Option<bool>,
}

/// Changes to a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagePatch {
    /// Move to this folder.
    pub folder: Option<String>,
    /// Mark unheard (`true`: New folder) or heard (`false`: from New to Old).
    pub new: Option<bool>,
}

/// Where to forward a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// The mailbox (extension) to copy it to.
    pub to: String,
}

/// The new copy of a forwarded message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forwarded {
    /// Id of the copy.
    pub id: i64,
    /// Its mailbox.
    pub mailbox: String,
}

fn check_folder(f: &str) -> ApiResult<()> {
    if FOLDERS.contains(&f) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "folder",
            format!("no folder {f:?}: new, old, work, family or friends"),
        ))
    }
}

async fn message_of(s: &AppState, ext: &str, id: i64) -> ApiResult<StoredMessage> {
    store(s)?
        .get_message(id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
        .filter(|m| m.mailbox == ext)
        .ok_or_else(|| ApiError::not_found(format!("mailbox {ext} has no message {id}")))
}

/// A mailbox's messages, oldest first (its owner or an administrator).
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/messages", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), MessageFilter, Paging),
    responses((status = 200, body = Page<MessageOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_messages(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Q(filter): Q<MessageFilter>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<MessageOut>>> {
    caller.owner_or_admin(&ext)?;
    if let Some(f) = &filter.folder {
        check_folder(f)?;
    }
    let all = store(&s)?
        .list_messages(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    let items: Vec<MessageOut> = all
        .into_iter()
        .map(MessageOut::from)
        .filter(|m| filter.folder.as_ref().is_none_or(|f| &m.folder == f))
        .filter(|m| filter.new.is_none_or(|n| m.new == n))
        .collect();
    Ok(Json(paging.apply(items)?))
}

/// One message's metadata.
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/messages/{id}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("id" = i64, Path, description = "Message id")),
    responses((status = 200, body = MessageOut), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_message(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, id)): P<(String, i64)>,
) -> ApiResult<Json<MessageOut>> {
    caller.owner_or_admin(&ext)?;
    Ok(Json(message_of(&s, &ext, id).await?.into()))
}

/// Move a message to a folder, or mark it new or old.
#[utoipa::path(patch, path = "/api/v1/mailboxes/{extension}/messages/{id}", tag = "voicemail",
    request_body = MessagePatch,
    params(("extension" = String, Path, description = "Mailbox"), ("id" = i64, Path, description = "Message id")),
    responses((status = 200, body = MessageOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn patch_message(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, id)): P<(String, i64)>,
    Body(p): Body<MessagePatch>,
) -> ApiResult<Json<MessageOut>> {
    caller.owner_or_admin(&ext)?;
    let m = message_of(&s, &ext, id).await?;
    let folder = match (&p.folder, p.new) {
        (Some(f), _) => {
            check_folder(f)?;
            f.clone()
        }
        (None, Some(true)) => "new".into(),
        (None, Some(false)) if m.folder == "new" => "old".into(),
        (None, _) => m.folder.clone(),
    };
    let st = store(&s)?;
    st.move_message(id, &folder)
        .await
        .map_err(|e| ApiError::store(e, "folder"))?;
    audit(
        &s,
        &caller,
        "message.move",
        &format!("{ext}/message/{id}"),
        &folder,
    )
    .await;
    mailbox_changed(&s, &ext);
    Ok(Json(message_of(&s, &ext, id).await?.into()))
}

/// Delete a message.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{extension}/messages/{id}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("id" = i64, Path, description = "Message id")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_message(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, id)): P<(String, i64)>,
) -> ApiResult<StatusCode> {
    caller.owner_or_admin(&ext)?;
    message_of(&s, &ext, id).await?;
    store(&s)?
        .delete_message(id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?;
    audit(
        &s,
        &caller,
        "message.delete",
        &format!("{ext}/message/{id}"),
        "",
    )
    .await;
    mailbox_changed(&s, &ext);
    Ok(StatusCode::NO_CONTENT)
}

fn wav(bytes: Vec<u8>, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// A message's audio (WAV, 8 kHz 16-bit mono).
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/messages/{id}/audio", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("id" = i64, Path, description = "Message id")),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn message_audio(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, id)): P<(String, i64)>,
) -> ApiResult<Response> {
    caller.owner_or_admin(&ext)?;
    let m = message_of(&s, &ext, id).await?;
    let bytes = tokio::fs::read(store(&s)?.message_path(&m.mailbox, m.id))
        .await
        .map_err(|_| ApiError::not_found("the message's audio is missing"))?;
    Ok(wav(bytes, &format!("message-{ext}-{id}.wav")))
}

/// Copy a message into another mailbox (it arrives there as new).
#[utoipa::path(post, path = "/api/v1/mailboxes/{extension}/messages/{id}/forward", tag = "voicemail",
    request_body = Forward,
    params(("extension" = String, Path, description = "Mailbox"), ("id" = i64, Path, description = "Message id")),
    responses((status = 201, body = Forwarded), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn forward_message(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, id)): P<(String, i64)>,
    Body(f): Body<Forward>,
) -> ApiResult<(StatusCode, Json<Forwarded>)> {
    caller.owner_or_admin(&ext)?;
    message_of(&s, &ext, id).await?;
    parley_store::validate_extension(&f.to).map_err(|e| ApiError::store(e, "to"))?;
    let new_id = store(&s)?
        .forward_message(id, &f.to)
        .await
        .map_err(|e| ApiError::store(e, "to"))?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    audit(
        &s,
        &caller,
        "message.forward",
        &format!("{ext}/message/{id}"),
        &format!("to={}", f.to),
    )
    .await;
    mailbox_changed(&s, &f.to);
    Ok((
        StatusCode::CREATED,
        Json(Forwarded {
            id: new_id,
            mailbox: f.to,
        }),
    ))
}

/// A greeting of a mailbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct GreetingOut {
    /// `unavailable`, `busy`, `name` or `temporary`.
    pub kind: String,
    /// Whether one is recorded.
    pub recorded: bool,
    /// Whether callers hear it when its situation arises (the temporary one only while switched on).
    pub active: bool,
    /// Length in milliseconds (0 when not recorded).
    pub duration_ms: u64,
}

/// Switch the temporary greeting on or off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemporarySwitch {
    /// On (it overrides the others) or off.
    pub active: bool,
}

fn kind(k: &str) -> ApiResult<GreetingKind> {
    GreetingKind::parse(k).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            "greeting kind must be unavailable, busy, name or temporary",
        )
    })
}

fn wav_ms(bytes: &[u8]) -> u64 {
    parley_media::wav::WavPlayer::from_wav_bytes(bytes)
        .map(|p| p.duration_ms())
        .unwrap_or(0)
}

/// A mailbox's greetings.
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/greetings", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox")),
    responses((status = 200, body = Vec<GreetingOut>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_greetings(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<Vec<GreetingOut>>> {
    caller.owner_or_admin(&ext)?;
    let st = store(&s)?;
    let settings = st
        .mailbox_settings(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    let mut out = Vec::new();
    for k in GreetingKind::ALL {
        let bytes = tokio::fs::read(st.greeting_path(&ext, k.as_str()))
            .await
            .ok();
        let recorded = bytes.is_some();
        out.push(GreetingOut {
            kind: k.as_str().into(),
            recorded,
            active: recorded && (k != GreetingKind::Temporary || settings.temp_active),
            duration_ms: bytes.as_deref().map(wav_ms).unwrap_or(0),
        });
    }
    Ok(Json(out))
}

/// A greeting's audio (WAV).
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name or temporary")),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn greeting_audio(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
) -> ApiResult<Response> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    let bytes = tokio::fs::read(store(&s)?.greeting_path(&ext, k.as_str()))
        .await
        .map_err(|_| ApiError::not_found(format!("no {} greeting recorded", k.as_str())))?;
    Ok(wav(bytes, &format!("greeting-{ext}-{}.wav", k.as_str())))
}

/// Upload a greeting: a WAV in 8 kHz mono, 16-bit PCM (the seed's format) or G.711. Replaces the
/// recorded one only if the upload is readable; an uploaded temporary greeting is switched on.
#[utoipa::path(put, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name or temporary")),
    responses((status = 200, body = GreetingOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_greeting(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<GreetingOut>> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    let st = store(&s)?;
    if st
        .get_user(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?
        .is_none()
    {
        return Err(ApiError::not_found(format!("mailbox {ext} does not exist")));
    }
    let player = parley_media::wav::WavPlayer::from_wav_bytes(&body)
        .map_err(|e| ApiError::invalid("body", format!("not a usable greeting: {e}")))?;
    if player.duration_ms() < 200 {
        return Err(ApiError::invalid(
            "body",
            "the greeting is shorter than 0.2 s",
        ));
    }
    let path = st.greeting_path(&ext, k.as_str());
    let tmp = path.with_file_name(format!(".{}.upload.wav", k.as_str()));
    let write = async {
        if let Some(d) = path.parent() {
            tokio::fs::create_dir_all(d).await?;
        }
        tokio::fs::write(&tmp, &body).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    write
        .await
        .map_err(|e| ApiError::invalid("body", format!("could not store the greeting: {e}")))?;
    if k == GreetingKind::Temporary {
        let mut m = st
            .mailbox_settings(&ext)
            .await
            .map_err(|e| ApiError::store(e, "extension"))?;
        m.temp_active = true;
        st.set_mailbox_settings(&ext, m)
            .await
            .map_err(|e| ApiError::store(e, "extension"))?;
    }
    audit(
        &s,
        &caller,
        "greeting.upload",
        &format!("{ext}/greeting/{}", k.as_str()),
        &format!("{} ms", player.duration_ms()),
    )
    .await;
    Ok(Json(GreetingOut {
        kind: k.as_str().into(),
        recorded: true,
        active: true,
        duration_ms: player.duration_ms(),
    }))
}

/// Delete a greeting (callers then hear the next one in line, or the system greeting).
#[utoipa::path(delete, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name or temporary")),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_greeting(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    let st = store(&s)?;
    tokio::fs::remove_file(st.greeting_path(&ext, k.as_str()))
        .await
        .map_err(|_| ApiError::not_found(format!("no {} greeting recorded", k.as_str())))?;
    if k == GreetingKind::Temporary {
        if let Ok(mut m) = st.mailbox_settings(&ext).await {
            m.temp_active = false;
            let _ = st.set_mailbox_settings(&ext, m).await;
        }
    }
    audit(
        &s,
        &caller,
        "greeting.delete",
        &format!("{ext}/greeting/{}", k.as_str()),
        "",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Switch the temporary greeting on (it needs a recorded one) or off.
#[utoipa::path(put, path = "/api/v1/mailboxes/{extension}/greetings/temporary/active", tag = "voicemail",
    request_body = TemporarySwitch,
    params(("extension" = String, Path, description = "Mailbox")),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn set_temporary(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Body(t): Body<TemporarySwitch>,
) -> ApiResult<StatusCode> {
    caller.owner_or_admin(&ext)?;
    let st = store(&s)?;
    if t.active && !st.greeting_path(&ext, "temporary").is_file() {
        return Err(ApiError::invalid(
            "active",
            "no temporary greeting is recorded",
        ));
    }
    let mut m = st
        .mailbox_settings(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    m.temp_active = t.active;
    st.set_mailbox_settings(&ext, m)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    audit(
        &s,
        &caller,
        "greeting.temporary",
        &ext,
        &format!("active={}", t.active),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
