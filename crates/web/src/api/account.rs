//! Accounts: the caller's own profile, PIN and password, API tokens; users (administrators); live
//! registrations and calls; the audit log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use parley_core::trunk::dialplan::DialClass;
use parley_store::{NewUser, Privilege, UserChanges};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{audit, store, token_hash, ApiError, ApiResult, Body, Caller, Page, Paging, P, Q};
use crate::AppState;

/// The caller's own account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// Extension.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: Option<String>,
    /// Mobile number (for SMS on new messages).
    pub mobile: Option<String>,
    /// Privileges (`admin`, `rest`, `groups`, `sms`).
    pub privileges: Vec<String>,
    /// Whether a voicemail PIN is set (else the default PIN applies).
    pub has_pin: bool,
    /// Ask for the PIN even from one's own phone.
    pub always_prompt: bool,
    /// Store arriving messages as read (no lamp).
    pub mark_read: bool,
    /// "Forward to Email Account": each new message is emailed with its audio.
    pub forward_email: bool,
    /// "Send SMS when receiving a message".
    pub send_sms: bool,
    /// Whether the account may send SMS (the option is offered only then).
    pub may_send_sms: bool,
}

/// Changes to one's own profile (absent fields are unchanged).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanges {
    /// New display name.
    pub name: Option<String>,
    /// New email address ("" clears it).
    pub email: Option<String>,
    /// New mobile number ("" clears it).
    pub mobile: Option<String>,
    /// Ask for the PIN even from one's own phone.
    pub always_prompt: Option<bool>,
    /// Store arriving messages as read.
    pub mark_read: Option<bool>,
    /// Email each new message (needs an email address).
    pub forward_email: Option<bool>,
    /// SMS on each new message (needs the `sms` privilege and a mobile number).
    pub send_sms: Option<bool>,
}

/// Whether an account may get SMS notifications.
pub(crate) fn may_send_sms(p: &[Privilege]) -> bool {
    p.iter()
        .any(|p| matches!(p, Privilege::Sms | Privilege::Admin))
}

/// A new voicemail PIN.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinChange {
    /// Digits; at least the configured length, not trivial.
    pub pin: String,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now (checked like a login: wrong ones count towards the lockout).
    pub current: String,
    /// At least 4 characters.
    pub password: String,
}

fn names(p: &[Privilege]) -> Vec<String> {
    p.iter().map(|p| p.as_str().to_string()).collect()
}

pub(crate) async fn profile(s: &AppState, ext: &str) -> ApiResult<Profile> {
    let st = store(s)?;
    let u = st
        .get_user(ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?
        .ok_or_else(|| ApiError::not_found(format!("extension {ext} does not exist")))?;
    let m = st
        .mailbox_settings(ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    Ok(Profile {
        extension: u.extension,
        name: u.name,
        email: u.email,
        mobile: u.mobile,
        may_send_sms: may_send_sms(&u.privileges),
        privileges: names(&u.privileges),
        has_pin: u.has_pin,
        always_prompt: m.always_prompt,
        mark_read: m.mark_read,
        forward_email: m.forward_email,
        send_sms: m.send_sms,
    })
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/me", tag = "account",
    responses((status = 200, body = Profile), (status = 401, body = super::ErrorBody)))]
pub async fn get_me(caller: Caller, State(s): State<AppState>) -> ApiResult<Json<Profile>> {
    Ok(Json(profile(&s, &caller.who.user).await?))
}

/// Change the caller's name, email, mobile number, "Always prompt", "Mark messages as read",
/// "Forward to Email Account" or "Send SMS when receiving a message".
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", request_body = ProfileChanges,
    responses((status = 200, body = Profile), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn patch_me(
    caller: Caller,
    State(s): State<AppState>,
    Body(c): Body<ProfileChanges>,
) -> ApiResult<Json<Profile>> {
    let ext = caller.who.user.clone();
    update_profile(&s, &ext, &c).await?;
    audit(&s, &caller, "me.update", &ext, &format!("{c:?}")).await;
    Ok(Json(profile(&s, &ext).await?))
}

/// Apply profile changes of `ext` (the API's PATCH and the portal's forms): forwarding to email needs
/// an address, SMS needs the privilege and a mobile number, and clearing the address or number
/// switches its notification off.
pub(crate) async fn update_profile(s: &AppState, ext: &str, c: &ProfileChanges) -> ApiResult<()> {
    let st = store(s)?;
    let before = profile(s, ext).await?;
    let email_after = match c.email.as_deref() {
        Some("") => None,
        Some(e) => Some(e),
        None => before.email.as_deref(),
    };
    let mobile_after = match c.mobile.as_deref() {
        Some("") => None,
        Some(m) => Some(m),
        None => before.mobile.as_deref(),
    };
    if c.forward_email == Some(true) && email_after.is_none() {
        return Err(ApiError::invalid(
            "forward_email",
            "forwarding to email needs an email address",
        ));
    }
    if c.send_sms == Some(true) {
        if !before.may_send_sms {
            return Err(ApiError::invalid(
                "send_sms",
                "this account is not authorized to send SMS messages",
            ));
        }
        if mobile_after.is_none() {
            return Err(ApiError::invalid(
                "send_sms",
                "SMS notification needs a mobile number",
            ));
        }
    }
    if c.name.is_some() || c.email.is_some() || c.mobile.is_some() {
        let field = if c.name.is_some() {
            "name"
        } else if c.email.is_some() {
            "email"
        } else {
            "mobile"
        };
        st.update_user(
            ext,
            &UserChanges {
                name: c.name.clone(),
                email: c.email.clone(),
                mobile: c.mobile.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ApiError::store(e, field))?;
    }
    if c.always_prompt.is_some()
        || c.mark_read.is_some()
        || c.forward_email.is_some()
        || c.send_sms.is_some()
        || (email_after.is_none() && before.forward_email)
        || (mobile_after.is_none() && before.send_sms)
    {
        let mut m = st
            .mailbox_settings(ext)
            .await
            .map_err(|e| ApiError::store(e, "extension"))?;
        m.always_prompt = c.always_prompt.unwrap_or(m.always_prompt);
        m.mark_read = c.mark_read.unwrap_or(m.mark_read);
        // Clearing the address or number switches its notification off.
        m.forward_email = c.forward_email.unwrap_or(m.forward_email) && email_after.is_some();
        m.send_sms = c.send_sms.unwrap_or(m.send_sms) && mobile_after.is_some();
        st.set_mailbox_settings(ext, m)
            .await
            .map_err(|e| ApiError::store(e, "extension"))?;
    }
    Ok(())
}

/// Change the caller's voicemail PIN (the rules of the phone menu apply).
#[utoipa::path(put, path = "/api/v1/me/pin", tag = "account", request_body = PinChange,
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn put_my_pin(
    caller: Caller,
    State(s): State<AppState>,
    Body(c): Body<PinChange>,
) -> ApiResult<StatusCode> {
    let ext = caller.who.user.clone();
    set_pin(&s, &ext, c.pin).await?;
    audit(&s, &caller, "me.pin", &ext, "").await;
    Ok(StatusCode::NO_CONTENT)
}

/// Set the voicemail PIN of `ext`, by the rules of the phone menu.
/// The PIN policy (the configured minimum, nothing trivial) for a PIN a person chooses.
fn pin_policy(s: &AppState, pin: &str, ext: &str) -> ApiResult<()> {
    parley_core::vm::pin::check(pin, s.voicemail.menus.pin_min_len, ext)
        .map(|_| ())
        .map_err(|e| ApiError::invalid("pin", e.to_string()))
}

pub(crate) async fn set_pin(s: &AppState, ext: &str, pin: String) -> ApiResult<()> {
    pin_policy(s, &pin, ext)?;
    store(s)?
        .update_user(
            ext,
            &UserChanges {
                pin: Some(pin),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ApiError::store(e, "pin"))
}

/// Change the caller's password (SIP and portal), given the current one. Every other session of the
/// account ends; the one making the change goes on.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "account", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn put_my_password(
    caller: Caller,
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    Body(c): Body<PasswordChange>,
) -> ApiResult<StatusCode> {
    let ext = caller.who.user.clone();
    match crate::auth::password(store(&s)?, &s.guard, &ext, &c.current, caller.source).await {
        Ok(_) => {}
        Err(crate::auth::AuthFailure::Unauthorized) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the current password is wrong",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    set_password(&s, &ext, c.password).await?;
    super::session::keep_after_password_change(&s, &headers).await;
    audit(&s, &caller, "me.password", &ext, "").await;
    Ok(StatusCode::NO_CONTENT)
}

/// Set the password (SIP and portal) of `ext`.
pub(crate) async fn set_password(s: &AppState, ext: &str, password: String) -> ApiResult<()> {
    store(s)?
        .update_user(
            ext,
            &UserChanges {
                password: Some(password),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ApiError::store(e, "password"))
}

/// An API token (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    /// Id.
    pub id: i64,
    /// Label.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A request for a new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A label, e.g. the integration's name.
    pub name: String,
}

/// A new token: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Id.
    pub id: i64,
    /// Use as `Authorization: Bearer <token>`.
    pub token: String,
}

/// The caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "account",
    responses((status = 200, body = Vec<Token>), (status = 401, body = super::ErrorBody)))]
pub async fn list_tokens(caller: Caller, State(s): State<AppState>) -> ApiResult<Json<Vec<Token>>> {
    let list = store(&s)?
        .tokens(&caller.who.user)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(
        list.into_iter()
            .map(|t| Token {
                id: t.id,
                name: t.name,
                created_at: t.created_at,
            })
            .collect(),
    ))
}

/// Create an API token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "account", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn create_token(
    caller: Caller,
    State(s): State<AppState>,
    Body(n): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let bytes: [u8; 16] = rand::random();
    let token = format!(
        "pk_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let id = store(&s)?
        .add_token(
            &caller.who.user,
            &n.name,
            &token_hash(&token),
            parley_store::unix_now(),
        )
        .await
        .map_err(|e| ApiError::store(e, "name"))?;
    audit(&s, &caller, "token.create", &format!("token/{id}"), &n.name).await;
    Ok((StatusCode::CREATED, Json(CreatedToken { id, token })))
}

/// Revoke one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "account",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn delete_token(
    caller: Caller,
    State(s): State<AppState>,
    P(id): P<i64>,
) -> ApiResult<StatusCode> {
    if !store(&s)?
        .delete_token(&caller.who.user, id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
    {
        return Err(ApiError::not_found("no such token"));
    }
    audit(&s, &caller, "token.delete", &format!("token/{id}"), "").await;
    Ok(StatusCode::NO_CONTENT)
}

/// An account as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// Extension.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Mobile number.
    pub mobile: Option<String>,
    /// Whether a PIN is set.
    pub has_pin: bool,
    /// Privileges.
    pub privileges: Vec<String>,
    /// What the account may dial outside: `internal`, `local`, `national` or `international`
    /// (emergency numbers always go through).
    pub dial_class: String,
    /// The number callers outside see (E.164); none: the company's main number.
    pub outside_number: Option<String>,
}

impl From<parley_store::User> for UserOut {
    fn from(u: parley_store::User) -> UserOut {
        UserOut {
            extension: u.extension,
            name: u.name,
            email: u.email,
            mobile: u.mobile,
            has_pin: u.has_pin,
            privileges: names(&u.privileges),
            dial_class: u.dial_class.as_str().into(),
            outside_number: u.outside_number,
        }
    }
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// Extension, 2-10 digits.
    pub extension: String,
    /// Display name.
    pub name: String,
    /// Password (SIP and portal), at least 4 characters.
    pub password: String,
    /// Voicemail PIN (4-12 digits); absent: the default PIN, to be changed at the first login.
    pub pin: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Privileges: `admin`, `rest`, `groups`, `sms`.
    #[serde(default)]
    pub privileges: Vec<String>,
}

/// Changes to an account (absent fields unchanged).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Display name.
    pub name: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Voicemail PIN.
    pub pin: Option<String>,
    /// Email ("" clears).
    pub email: Option<String>,
    /// Mobile number ("" clears).
    pub mobile: Option<String>,
    /// Privileges (replacing the old ones).
    pub privileges: Option<Vec<String>>,
    /// What the account may dial outside: `internal`, `local`, `national`, `international`.
    pub dial_class: Option<String>,
    /// The number callers outside see, in E.164 ("" clears: the company's main number).
    pub outside_number: Option<String>,
}

fn privileges(list: &[String]) -> ApiResult<Vec<Privilege>> {
    list.iter()
        .map(|p| Privilege::parse(p).map_err(|e| ApiError::store(e, "privileges")))
        .collect()
}

/// All accounts (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(Paging),
    responses((status = 200, body = Page<UserOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_users(
    caller: Caller,
    State(s): State<AppState>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<UserOut>>> {
    caller.admin()?;
    let all = store(&s)?
        .list_users()
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(
        paging.apply(all.into_iter().map(UserOut::from).collect())?,
    ))
}

/// Create an account (administrators).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserIn,
    responses((status = 201, body = UserOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn create_user(
    caller: Caller,
    State(s): State<AppState>,
    Body(u): Body<UserIn>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    caller.admin()?;
    let st = store(&s)?;
    let privs = privileges(&u.privileges)?;
    if let Some(pin) = &u.pin {
        pin_policy(&s, pin, &u.extension)?;
    }
    let field = field_of_user_error(
        &u.extension,
        &u.name,
        &u.password,
        u.pin.as_deref(),
        u.email.as_deref(),
    );
    st.add_user(&NewUser {
        extension: u.extension.clone(),
        name: u.name.clone(),
        password: u.password,
        pin: u.pin,
        email: u.email,
        privileges: privs,
    })
    .await
    .map_err(|e| ApiError::store(e, field))?;
    audit(
        &s,
        &caller,
        "user.add",
        &u.extension,
        &format!("name={} privileges={:?}", u.name, u.privileges),
    )
    .await;
    let out = st
        .get_user(&u.extension)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?
        .ok_or_else(|| ApiError::not_found("account vanished"))?;
    Ok((StatusCode::CREATED, Json(out.into())))
}

/// Which field a refused account most likely stumbled on (the store checks in this order).
fn field_of_user_error(
    ext: &str,
    name: &str,
    password: &str,
    pin: Option<&str>,
    email: Option<&str>,
) -> &'static str {
    if parley_store::validate_extension(ext).is_err() {
        "extension"
    } else if name.trim().is_empty()
        || name.len() > 100
        || name.chars().any(|c| c.is_control() || c == '"')
    {
        "name"
    } else if password.chars().count() < 4 || password.chars().any(char::is_control) {
        "password"
    } else if pin
        .is_some_and(|p| !(1..=32).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        "pin"
    } else if email.is_some() {
        "email"
    } else {
        "extension"
    }
}

/// One account (administrators, or the account itself).
#[utoipa::path(get, path = "/api/v1/users/{extension}", tag = "users",
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = UserOut), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_user(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
) -> ApiResult<Json<UserOut>> {
    caller.owner_or_admin(&ext)?;
    let u = store(&s)?
        .get_user(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?
        .ok_or_else(|| ApiError::not_found(format!("extension {ext} does not exist")))?;
    Ok(Json(u.into()))
}

/// Change an account (administrators).
#[utoipa::path(patch, path = "/api/v1/users/{extension}", tag = "users", request_body = UserPatch,
    params(("extension" = String, Path, description = "Extension")),
    responses((status = 200, body = UserOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn patch_user(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    Body(c): Body<UserPatch>,
) -> ApiResult<Json<UserOut>> {
    caller.admin()?;
    let st = store(&s)?;
    let privs = c.privileges.as_deref().map(privileges).transpose()?;
    if let Some(pin) = &c.pin {
        pin_policy(&s, pin, &ext)?;
    }
    let dial_class = match c.dial_class.as_deref() {
        None => None,
        Some(d) => Some(DialClass::parse(d).ok_or_else(|| {
            ApiError::invalid(
                "dial_class",
                "a dialling class is internal, local, national or international",
            )
        })?),
    };
    if let Some(n) = c.outside_number.as_deref().filter(|n| !n.is_empty()) {
        parley_store::check_e164(n).map_err(|e| ApiError::store(e, "outside_number"))?;
    }
    let field = field_of_user_error(
        &ext,
        c.name.as_deref().unwrap_or("x"),
        c.password.as_deref().unwrap_or("xxxx"),
        c.pin.as_deref(),
        c.email.as_deref().filter(|e| !e.is_empty()),
    );
    let detail = format!(
        "name={:?} password={} pin={} email={:?} mobile={} privileges={:?} dial_class={:?} outside_number={:?}",
        c.name,
        c.password.is_some(),
        c.pin.is_some(),
        c.email,
        c.mobile.is_some(),
        c.privileges,
        c.dial_class,
        c.outside_number
    );
    let field = if c.mobile.is_some() && field == "extension" {
        "mobile"
    } else {
        field
    };
    st.update_user(
        &ext,
        &UserChanges {
            name: c.name,
            password: c.password,
            pin: c.pin,
            email: c.email,
            mobile: c.mobile,
            privileges: privs,
            dial_class,
            outside_number: c.outside_number,
        },
    )
    .await
    .map_err(|e| ApiError::store(e, field))?;
    audit(&s, &caller, "user.set", &ext, &detail).await;
    let u = st
        .get_user(&ext)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?
        .ok_or_else(|| ApiError::not_found(format!("extension {ext} does not exist")))?;
    Ok(Json(u.into()))
}

/// How to remove an account.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// Keep the account's messages, greetings and call records in an archive under the data
    /// directory instead of deleting them (default false). Either way the next user of the extension
    /// inherits nothing.
    pub archive: Option<bool>,
}

/// Remove an account with its messages, greetings and call records (administrators).
#[utoipa::path(delete, path = "/api/v1/users/{extension}", tag = "users",
    params(("extension" = String, Path, description = "Extension"), RemoveQuery),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_user(
    caller: Caller,
    State(s): State<AppState>,
    P(ext): P<String>,
    super::Q(q): super::Q<RemoveQuery>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    let disposal = if q.archive.unwrap_or(false) {
        parley_store::Disposal::Archive
    } else {
        parley_store::Disposal::Delete
    };
    let archive = store(&s)?
        .remove_account(&ext, disposal)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    let detail = archive
        .map(|d| format!("archived in {}", d.display()))
        .unwrap_or_else(|| "data deleted".into());
    super::account_removed(&s, &ext);
    audit(&s, &caller, "user.remove", &ext, &detail).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A registered contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registration {
    /// Extension.
    pub extension: String,
    /// Contact URI.
    pub contact: String,
    /// Flow (`udp:1.2.3.4:5060`).
    pub source: String,
    /// Seconds until it lapses.
    pub expires_in: u64,
    /// The phone's User-Agent.
    pub user_agent: String,
}

/// Live registrations (administrators).
#[utoipa::path(get, path = "/api/v1/registrations", tag = "system", params(Paging),
    responses((status = 200, body = Page<Registration>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_registrations(
    caller: Caller,
    State(s): State<AppState>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<Registration>>> {
    caller.admin()?;
    let st = parley_core::switch::status::snapshot(&s.status);
    Ok(Json(
        paging.apply(
            st.registrations
                .into_iter()
                .map(|r| Registration {
                    extension: r.extension,
                    contact: r.contact,
                    source: r.source,
                    expires_in: r.expires_in,
                    user_agent: r.user_agent,
                })
                .collect(),
        )?,
    ))
}

/// A call in progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallOut {
    /// Parley's id.
    pub id: u64,
    /// Caller.
    pub caller: String,
    /// Callee, or what answered (`voicemail 101`, `mailbox menu`).
    pub callee: String,
    /// `ringing`, `answered`, `voicemail`.
    pub state: String,
    /// Seconds since it started.
    pub age_secs: u64,
}

/// Calls in progress, including calls answered by voicemail (administrators).
#[utoipa::path(get, path = "/api/v1/calls", tag = "system", params(Paging),
    responses((status = 200, body = Page<CallOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_calls(
    caller: Caller,
    State(s): State<AppState>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<CallOut>>> {
    caller.admin()?;
    let st = parley_core::switch::status::snapshot(&s.status);
    let mut calls: Vec<CallOut> = st
        .calls
        .into_iter()
        .map(|c| CallOut {
            id: c.id,
            caller: c.caller,
            callee: c.callee,
            state: c.state,
            age_secs: c.age_secs,
        })
        .collect();
    calls.extend(st.voicemail.into_iter().map(|v| CallOut {
        id: v.id,
        caller: v.caller,
        callee: v.what,
        state: "voicemail".into(),
        age_secs: v.age_secs,
    }));
    calls.sort_by_key(|c| c.id);
    Ok(Json(paging.apply(calls)?))
}

/// One of the caller's past calls (a call record).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallRecordOut {
    /// Id.
    pub id: i64,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// `incoming` or `outgoing`, from the caller's side.
    pub direction: String,
    /// The other party's number.
    pub number: String,
    /// Who called.
    pub caller: String,
    /// The caller's name, when the call carried one.
    pub caller_name: Option<String>,
    /// The number called.
    pub callee: String,
    /// `answered`, `busy`, `no-answer`, `cancelled`, `failed`, `voicemail` or `mailbox`.
    pub outcome: String,
    /// Time connected, in milliseconds.
    pub talk_ms: i64,
    /// From start to end, in milliseconds.
    pub total_ms: i64,
    /// Whether the call came from or went to the outside, through a trunk.
    pub outside: bool,
    /// The trunk it went through (none for internal calls, and for outside calls refused before a
    /// trunk rang).
    pub trunk: Option<String>,
    /// The user whose call route sent it elsewhere (the extension first dialled), if it was.
    pub routed_by: Option<String>,
    /// Who took it: the extension whose phone answered, or the number outside (Follow-Me, a
    /// forward).
    pub answered_by: Option<String>,
}

/// The caller's latest calls (at most 1000), newest first: what "My Call Details" shows.
#[utoipa::path(get, path = "/api/v1/me/calls", tag = "account", params(Paging),
    responses((status = 200, body = Page<CallRecordOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)))]
pub async fn my_calls(
    caller: Caller,
    State(s): State<AppState>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<CallRecordOut>>> {
    let me = caller.who.user.clone();
    let records = store(&s)?
        .call_records(Some(&me), 1000)
        .await
        .map_err(|e| ApiError::store(e, "extension"))?;
    let out = records
        .into_iter()
        .map(|r| {
            let outgoing = r.caller == me;
            CallRecordOut {
                id: r.id,
                started_at: r.started_at,
                direction: if outgoing { "outgoing" } else { "incoming" }.into(),
                number: if outgoing {
                    r.callee.clone()
                } else {
                    r.caller.clone()
                },
                caller: r.caller,
                caller_name: r.caller_name,
                callee: r.callee,
                outcome: r.outcome.as_str().into(),
                talk_ms: r.talk_ms,
                total_ms: r.total_ms,
                outside: r.direction != parley_store::Direction::Internal,
                trunk: r.trunk,
                routed_by: r.routed_by,
                answered_by: r.answered_by,
            }
        })
        .collect();
    Ok(Json(paging.apply(out)?))
}

/// An audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    /// Id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// From where.
    pub source: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Parameters (no secrets).
    pub detail: String,
}

/// The audit log, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "system", params(Paging),
    responses((status = 200, body = Page<AuditOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_audit(
    caller: Caller,
    State(s): State<AppState>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<AuditOut>>> {
    caller.admin()?;
    let all = store(&s)?
        .audit_log(100_000)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(Json(
        paging.apply(
            all.into_iter()
                .map(|e| AuditOut {
                    id: e.id,
                    at: e.at,
                    actor: e.actor,
                    source: e.source,
                    action: e.action,
                    target: e.target,
                    detail: e.detail,
                })
                .collect(),
        )?,
    ))
}
