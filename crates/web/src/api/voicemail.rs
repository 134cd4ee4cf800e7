//! Mailboxes over the API: messages (list with folder and new filters, metadata, WAV download, move,
//! mark new/old, delete, forward), greetings (list, download, upload with conversion, delete, temporary
//! on/off) and the Callisto announcements (active one, "Recording active").
//! Every change re-announces the mailbox's message-waiting state to its phones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parley_core::switch::Control;
use parley_core::vm::GreetingKind;
use parley_store::{AudioKey, StoredMessage, FOLDERS};
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

/// Tell the SIP server an account is gone (its registrations and subscriptions go at once).
pub(crate) fn account_removed(s: &AppState, ext: &str) {
    if let Some(c) = s.control.as_ref() {
        let _ = c.send(Control::AccountRemoved(ext.to_string()));
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
    /// Who forwarded this copy here, if it was forwarded.
    pub forwarded_by: Option<String>,
    /// Their note.
    pub note: Option<String>,
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
            forwarded_by: m.forwarded_by,
            note: m.note,
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
    /// A note for the recipient, shown with the copy (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
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
    let bytes = store(&s)?
        .audio_wav(&AudioKey::message(&m.mailbox, m.id))
        .await
        .ok_or_else(|| ApiError::not_found("the message's audio is missing"))?;
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
        .forward_message(id, &f.to, &caller.who.user, f.note.as_deref())
        .await
        .map_err(|e| {
            let field = if matches!(e, parley_store::StoreError::Invalid(_)) {
                "note"
            } else {
                "to"
            };
            ApiError::store(e, field)
        })?
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
    /// `unavailable`, `busy`, `name`, `temporary`, `announcement-a`, `announcement-b` or
    /// `announcement-c`.
    pub kind: String,
    /// Whether one is recorded.
    pub recorded: bool,
    /// Whether callers hear it when its situation arises (the temporary one only while switched on,
    /// an announcement only while it is the active one).
    pub active: bool,
    /// Length in milliseconds (0 when not recorded).
    pub duration_ms: u64,
}

impl From<crate::greetings::GreetingState> for GreetingOut {
    fn from(g: crate::greetings::GreetingState) -> Self {
        GreetingOut {
            kind: g.kind.as_str().into(),
            recorded: g.recorded,
            active: g.active,
            duration_ms: g.duration_ms,
        }
    }
}

/// An uploaded greeting: its state and what was done to the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadOut {
    /// The greeting now.
    #[serde(flatten)]
    pub greeting: GreetingOut,
    /// Whether the file was converted (false: stored exactly as uploaded).
    pub converted: bool,
    /// What was done, in a sentence.
    pub message: String,
}

/// Switch the temporary greeting on or off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemporarySwitch {
    /// On (it overrides the others) or off.
    pub active: bool,
}

/// "Recording active" per announcement: may callers leave a message after it?
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingSwitches {
    /// After the standard welcome message (default on).
    pub standard: bool,
    /// After announcement A (default off).
    pub a: bool,
    /// After announcement B (default off).
    pub b: bool,
    /// After announcement C (default off).
    pub c: bool,
}

/// The Callisto announcements of a mailbox: which one callers hear and whether they can leave a
/// message after each.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Announcements {
    /// `standard`, `a`, `b` or `c` (a custom one must be recorded first).
    pub active: String,
    /// "Recording active" of each.
    pub recording: RecordingSwitches,
}

impl From<&parley_store::MailboxSettings> for Announcements {
    fn from(m: &parley_store::MailboxSettings) -> Self {
        let [standard, a, b, c] = m.recording;
        Announcements {
            active: m.announcement.as_str().into(),
            recording: RecordingSwitches { standard, a, b, c },
        }
    }
}

fn kind(k: &str) -> ApiResult<GreetingKind> {
    GreetingKind::parse(k).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            "greeting kind must be unavailable, busy, name, temporary, announcement-a, announcement-b or announcement-c",
        )
    })
}

fn greeting_error(e: crate::greetings::GreetingError) -> ApiError {
    use crate::greetings::GreetingError as G;
    match e {
        G::NoMailbox(m) => ApiError::not_found(format!("mailbox {m} does not exist")),
        G::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
        G::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
        G::Store(e) => ApiError::store(e, "extension"),
        G::NotRecorded(_) => ApiError::invalid("active", e.to_string()),
        e => ApiError::invalid("body", e.to_string()),
    }
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
    let (_, all) = crate::greetings::overview(store(&s)?, &ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    Ok(Json(all.into_iter().map(GreetingOut::from).collect()))
}

/// A greeting's audio (WAV).
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name, temporary, announcement-a, announcement-b or announcement-c")),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn greeting_audio(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
) -> ApiResult<Response> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    let bytes = store(&s)?
        .audio_wav(&AudioKey::greeting(&ext, k))
        .await
        .ok_or_else(|| ApiError::not_found(format!("no {} greeting recorded", k.as_str())))?;
    Ok(wav(bytes, &format!("greeting-{ext}-{}.wav", k.as_str())))
}

/// Upload a greeting. A WAV in the seed's format (PCM, 8 kHz, 16 bit, mono) is stored as is; any
/// other WAV, MP3, M4A/AAC, Ogg Vorbis, FLAC or AIFF is converted once to that format. An unreadable,
/// empty, too long or too large file is refused and nothing is replaced. An uploaded temporary
/// greeting is switched on.
#[utoipa::path(put, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name, temporary, announcement-a, announcement-b or announcement-c")),
    responses((status = 200, body = UploadOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 413, body = super::ErrorBody)))]
pub async fn put_greeting(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<UploadOut>> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    let body = body.map_err(|_| greeting_error(crate::greetings::GreetingError::TooLarge))?;
    let st = store(&s)?;
    let max_ms = s.voicemail.menus.max_greeting.as_millis() as u64;
    let done = crate::greetings::install(st, &ext, k, body.to_vec(), max_ms)
        .await
        .map_err(greeting_error)?;
    audit(
        &s,
        &caller,
        "greeting.upload",
        &format!("{ext}/greeting/{}", k.as_str()),
        &done.describe(),
    )
    .await;
    let (_, all) = crate::greetings::overview(st, &ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    let state = all
        .into_iter()
        .find(|g| g.kind == k)
        .ok_or_else(|| ApiError::not_found("greeting"))?;
    Ok(Json(UploadOut {
        greeting: state.into(),
        converted: done.converted_from.is_some(),
        message: done.describe(),
    }))
}

/// Delete a greeting (callers then hear the next one in line, or the system greeting). Deleting the
/// active announcement makes the standard one active.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{extension}/greetings/{kind}", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox"), ("kind" = String, Path, description = "unavailable, busy, name, temporary, announcement-a, announcement-b or announcement-c")),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_greeting(
    caller: Caller,
    State(s): State<AppState>,
    P((ext, k)): P<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.owner_or_admin(&ext)?;
    let k = kind(&k)?;
    if !crate::greetings::remove(store(&s)?, &ext, k)
        .await
        .map_err(greeting_error)?
    {
        return Err(ApiError::not_found(format!(
            "no {} greeting recorded",
            k.as_str()
        )));
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

/// The mailbox's announcements (Callisto): the active one and "Recording active" of each.
#[utoipa::path(get, path = "/api/v1/mailboxes/{extension}/announcements", tag = "voicemail",
    params(("extension" = String, Path, description = "Mailbox")),
    responses((status = 200, body = Announcements), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn get_announcements(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<Announcements>> {
    caller.owner_or_admin(&ext)?;
    let m = store(&s)?
        .mailbox_settings(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    Ok(Json((&m).into()))
}

/// Choose the active announcement (a custom one must be recorded) and switch "Recording active" per
/// announcement: off means callers hear it and cannot leave a message.
#[utoipa::path(put, path = "/api/v1/mailboxes/{extension}/announcements", tag = "voicemail",
    request_body = Announcements,
    params(("extension" = String, Path, description = "Mailbox")),
    responses((status = 200, body = Announcements), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn put_announcements(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Body(a): Body<Announcements>,
) -> ApiResult<Json<Announcements>> {
    caller.owner_or_admin(&ext)?;
    let active = parley_core::vm::Announcement::parse(&a.active)
        .ok_or_else(|| ApiError::invalid("active", "must be standard, a, b or c"))?;
    let r = &a.recording;
    let m =
        crate::greetings::set_announcements(store(&s)?, &ext, active, [r.standard, r.a, r.b, r.c])
            .await
            .map_err(greeting_error)?;
    audit(
        &s,
        &caller,
        "greeting.announcements",
        &ext,
        &format!("{m:?}"),
    )
    .await;
    Ok(Json((&m).into()))
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
    if t.active
        && !st
            .audio_exists(&AudioKey::greeting(&ext, GreetingKind::Temporary))
            .await
    {
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
