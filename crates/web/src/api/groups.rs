//! ManagerAssistant groups over the JSON API: the same model (and the same checks) as the
//! Callisto-compatible XML API, with typed fields. Reading needs `rest`, `groups` or `admin`; changing
//! needs `groups` or `admin`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use parley_core::ma::{GroupSettings, ParamError, Params};
use parley_store::{Change, Privilege, Store};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{audit, store, ApiError, ApiResult, Body, Caller, Page, Paging, P, Q};
use crate::AppState;

/// A ManagerAssistant group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    /// Id (`gr_id`).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Announcement WAV played when the manager is called ("" = none).
    pub welcome: String,
    /// Ring assistants in parallel.
    pub ring_parallel: bool,
    /// Manager number.
    pub number: String,
    /// Manager timeout in seconds (0 = off).
    pub manager_timeout: u32,
    /// Assistant timeout in seconds (0 = off).
    pub assistant_timeout: u32,
    /// `-1` none, `-3` busy, `voicemail:<box>`, or a number.
    pub overflow: String,
    /// 0 manager only, 1 all, 2 all marked `<VIP>`.
    pub show_vip_call: u8,
    /// 0, 1 or 2 (see the Callisto documentation).
    pub vip_calls_routing: u8,
    /// Connect assistants directly with the manager.
    pub assistant_to_mng: bool,
    /// Show call information.
    pub show_calls: bool,
    /// 0 all callers VIP, 1-5 level, above 5 off.
    pub vip_threshold: u32,
    /// Caller name mask.
    pub caller_name: String,
    /// Caller number mask.
    pub caller_number: String,
    /// Manager call tone on system phones.
    pub mng_call_alarm: String,
    /// Assistant call tone on system phones.
    pub assist_call_alarm: String,
    /// Manager call tone on Jabber/COC/gadget.
    pub mng_call_alarm_j: String,
    /// Assistant call tone on Jabber/COC/gadget.
    pub assist_call_alarm_j: String,
}

/// Group fields to set (absent ones keep their value, or the default on creation).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    /// Name (required on creation).
    pub name: Option<String>,
    /// Announcement WAV.
    pub welcome: Option<String>,
    /// Ring assistants in parallel.
    pub ring_parallel: Option<bool>,
    /// Manager number.
    pub number: Option<String>,
    /// Manager timeout (s).
    pub manager_timeout: Option<u32>,
    /// Assistant timeout (s).
    pub assistant_timeout: Option<u32>,
    /// `-1`, `-3`, `busy`, `voicemail:<box>` or a number.
    pub overflow: Option<String>,
    /// 0/1/2 or `manager`/`all`/`marked`.
    pub show_vip_call: Option<String>,
    /// 0, 1 or 2.
    pub vip_calls_routing: Option<u8>,
    /// Connect assistants directly with the manager.
    pub assistant_to_mng: Option<bool>,
    /// Show call information.
    pub show_calls: Option<bool>,
    /// VIP threshold.
    pub vip_threshold: Option<u32>,
    /// Caller name mask.
    pub caller_name: Option<String>,
    /// Caller number mask.
    pub caller_number: Option<String>,
    /// Manager call tone (system phones).
    pub mng_call_alarm: Option<String>,
    /// Assistant call tone (system phones).
    pub assist_call_alarm: Option<String>,
    /// Manager call tone (Jabber).
    pub mng_call_alarm_j: Option<String>,
    /// Assistant call tone (Jabber).
    pub assist_call_alarm_j: Option<String>,
}

/// JSON field name ↔ Callisto parameter name.
const FIELDS: [(&str, &str); 18] = [
    ("name", "gr_name"),
    ("welcome", "gr_welcome"),
    ("ring_parallel", "gr_ringParallel"),
    ("number", "gr_number"),
    ("manager_timeout", "gr_managerTimeout"),
    ("assistant_timeout", "gr_assistantTimeout"),
    ("overflow", "gr_overflow"),
    ("show_vip_call", "gr_showVIPcall"),
    ("vip_calls_routing", "gr_VIPCallsRouting"),
    ("assistant_to_mng", "gr_assistantToMng"),
    ("show_calls", "gr_showCalls"),
    ("vip_threshold", "gr_VIPThreshold"),
    ("caller_name", "gr_callerName"),
    ("caller_number", "gr_callerNumber"),
    ("mng_call_alarm", "gr_mngCallAlarm"),
    ("assist_call_alarm", "gr_assistCallAlarm"),
    ("mng_call_alarm_j", "gr_mngCallAlarmJ"),
    ("assist_call_alarm_j", "gr_assistCallAlarmJ"),
];

impl GroupIn {
    /// The same fields as Callisto parameters, so one set of checks serves both APIs.
    fn params(&self) -> Params {
        let b = |v: bool| if v { "1" } else { "0" }.to_string();
        let values: [Option<String>; 18] = [
            self.name.clone(),
            self.welcome.clone(),
            self.ring_parallel.map(b),
            self.number.clone(),
            self.manager_timeout.map(|v| v.to_string()),
            self.assistant_timeout.map(|v| v.to_string()),
            self.overflow.clone(),
            self.show_vip_call.clone(),
            self.vip_calls_routing.map(|v| v.to_string()),
            self.assistant_to_mng.map(b),
            self.show_calls.map(b),
            self.vip_threshold.map(|v| v.to_string()),
            self.caller_name.clone(),
            self.caller_number.clone(),
            self.mng_call_alarm.clone(),
            self.assist_call_alarm.clone(),
            self.mng_call_alarm_j.clone(),
            self.assist_call_alarm_j.clone(),
        ];
        Params::new(
            FIELDS
                .iter()
                .zip(values)
                .filter_map(|((_, p), v)| v.map(|v| (p.to_string(), v))),
        )
    }
}

fn param_error(e: ParamError) -> ApiError {
    let (param, message) = match &e {
        ParamError::Missing(p) => (*p, e.to_string()),
        ParamError::Invalid { name, .. } => (*name, e.to_string()),
    };
    let field = FIELDS
        .iter()
        .find(|(_, p)| p.eq_ignore_ascii_case(param))
        .map(|(f, _)| *f)
        .unwrap_or(param);
    ApiError::invalid(field, message.replace(param, field))
}

fn out(id: i64, g: &GroupSettings) -> GroupOut {
    GroupOut {
        id,
        name: g.name.clone(),
        welcome: g.welcome.clone(),
        ring_parallel: g.ring_parallel,
        number: g.number.clone(),
        manager_timeout: g.manager_timeout,
        assistant_timeout: g.assistant_timeout,
        overflow: g.overflow.as_api(),
        show_vip_call: g.show_vip_call,
        vip_calls_routing: g.vip_calls_routing,
        assistant_to_mng: g.assistant_to_mng,
        show_calls: g.show_calls,
        vip_threshold: g.vip_threshold,
        caller_name: g.caller_name.clone(),
        caller_number: g.caller_number.clone(),
        mng_call_alarm: g.mng_call_alarm.clone(),
        assist_call_alarm: g.assist_call_alarm.clone(),
        mng_call_alarm_j: g.mng_call_alarm_j.clone(),
        assist_call_alarm_j: g.assist_call_alarm_j.clone(),
    }
}

async fn instance<'a>(s: &'a AppState, name: &str) -> ApiResult<&'a Store> {
    let st = store(s)?;
    if !st
        .ma_instance_exists(name)
        .await
        .map_err(|e| ApiError::store(e, "instance"))?
    {
        return Err(ApiError::not_found(format!(
            "unknown ManagerAssistant application instance {name:?}"
        )));
    }
    Ok(st)
}

fn may_read(c: &Caller) -> ApiResult<()> {
    if c.who.has(Privilege::Groups) || c.who.has(Privilege::Rest) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "needs the Groups or REST Authentication privilege",
        ))
    }
}

fn may_write(c: &Caller) -> ApiResult<()> {
    if c.who.has(Privilege::Groups) {
        Ok(())
    } else {
        Err(ApiError::forbidden("needs the Groups privilege"))
    }
}

/// Name filter of the group list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilter {
    /// Only groups whose name contains this text (case-insensitive).
    pub name: Option<String>,
}

/// The groups of an application instance.
#[utoipa::path(get, path = "/api/v1/ma/{instance}/groups", tag = "groups",
    params(("instance" = String, Path, description = "Application instance"), GroupFilter, Paging),
    responses((status = 200, body = Page<GroupOut>), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn list_groups(
    caller: Caller,
    State(s): State<AppState>,
    P(inst): P<String>,
    Q(filter): Q<GroupFilter>,
    Q(paging): Q<Paging>,
) -> ApiResult<Json<Page<GroupOut>>> {
    may_read(&caller)?;
    let st = instance(&s, &inst).await?;
    let list = st
        .find_groups(&inst, filter.name.as_deref().unwrap_or(""), None)
        .await
        .map_err(|e| ApiError::store(e, "name"))?;
    Ok(Json(paging.apply(
        list.iter().map(|g| out(g.id, &g.settings)).collect(),
    )?))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/ma/{instance}/groups", tag = "groups", request_body = GroupIn,
    params(("instance" = String, Path, description = "Application instance")),
    responses((status = 201, body = GroupOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn create_group(
    caller: Caller,
    State(s): State<AppState>,
    P(inst): P<String>,
    Body(g): Body<GroupIn>,
) -> ApiResult<(StatusCode, Json<GroupOut>)> {
    may_write(&caller)?;
    let st = instance(&s, &inst).await?;
    let params = g.params();
    params.required("gr_name").map_err(param_error)?;
    let settings = GroupSettings::default()
        .apply(&params)
        .map_err(param_error)?;
    match st
        .add_group(&inst, &settings)
        .await
        .map_err(|e| ApiError::store(e, "name"))?
    {
        Change::Done(id) => {
            audit(
                &s,
                &caller,
                "ma.group.create",
                &format!("{inst}/group/{id}"),
                &format!("{g:?}"),
            )
            .await;
            Ok((StatusCode::CREATED, Json(out(id, &settings))))
        }
        Change::Duplicate => Err(ApiError::conflict(format!(
            "a group named {:?} exists already",
            settings.name
        ))),
        Change::NotFound => Err(ApiError::not_found("no such instance")),
    }
}

/// One group.
#[utoipa::path(get, path = "/api/v1/ma/{instance}/groups/{id}", tag = "groups",
    params(("instance" = String, Path, description = "Application instance"), ("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = GroupOut), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn get_group(
    caller: Caller,
    State(s): State<AppState>,
    P((inst, id)): P<(String, i64)>,
) -> ApiResult<Json<GroupOut>> {
    may_read(&caller)?;
    let st = instance(&s, &inst).await?;
    let g = st
        .group(&inst, id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
        .ok_or_else(|| ApiError::not_found(format!("no group {id} in {inst}")))?;
    Ok(Json(out(g.id, &g.settings)))
}

/// Change a group (only the fields given).
#[utoipa::path(patch, path = "/api/v1/ma/{instance}/groups/{id}", tag = "groups", request_body = GroupIn,
    params(("instance" = String, Path, description = "Application instance"), ("id" = i64, Path, description = "Group id")),
    responses((status = 200, body = GroupOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn patch_group(
    caller: Caller,
    State(s): State<AppState>,
    P((inst, id)): P<(String, i64)>,
    Body(g): Body<GroupIn>,
) -> ApiResult<Json<GroupOut>> {
    may_write(&caller)?;
    let st = instance(&s, &inst).await?;
    let current = st
        .group(&inst, id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
        .ok_or_else(|| ApiError::not_found(format!("no group {id} in {inst}")))?;
    let settings = current.settings.apply(&g.params()).map_err(param_error)?;
    match st
        .update_group(&inst, id, &settings)
        .await
        .map_err(|e| ApiError::store(e, "name"))?
    {
        Change::Done(()) => {
            audit(
                &s,
                &caller,
                "ma.group.update",
                &format!("{inst}/group/{id}"),
                &format!("{g:?}"),
            )
            .await;
            Ok(Json(out(id, &settings)))
        }
        Change::Duplicate => Err(ApiError::conflict(format!(
            "a group named {:?} exists already",
            settings.name
        ))),
        Change::NotFound => Err(ApiError::not_found(format!("no group {id} in {inst}"))),
    }
}

/// Delete a group with its members, VIP numbers and announcements.
#[utoipa::path(delete, path = "/api/v1/ma/{instance}/groups/{id}", tag = "groups",
    params(("instance" = String, Path, description = "Application instance"), ("id" = i64, Path, description = "Group id")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_group(
    caller: Caller,
    State(s): State<AppState>,
    P((inst, id)): P<(String, i64)>,
) -> ApiResult<StatusCode> {
    may_write(&caller)?;
    let st = instance(&s, &inst).await?;
    if !st
        .delete_group(&inst, id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?
    {
        return Err(ApiError::not_found(format!("no group {id} in {inst}")));
    }
    audit(
        &s,
        &caller,
        "ma.group.delete",
        &format!("{inst}/group/{id}"),
        "",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A ManagerAssistant application instance (the `<MAGroup>` of the Callisto API paths).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// Name: letters, digits, `_`, `-`, `.`.
    pub name: String,
}

/// The application instances.
#[utoipa::path(get, path = "/api/v1/ma", tag = "groups",
    responses((status = 200, body = Vec<Instance>), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn list_instances(
    caller: Caller,
    State(s): State<AppState>,
) -> ApiResult<Json<Vec<Instance>>> {
    may_read(&caller)?;
    let st = store(&s)?;
    let names = st
        .ma_instances()
        .await
        .map_err(|e| ApiError::store(e, "name"))?;
    Ok(Json(
        names.into_iter().map(|name| Instance { name }).collect(),
    ))
}

/// Create an application instance (administrators).
#[utoipa::path(post, path = "/api/v1/ma", tag = "groups", request_body = Instance,
    responses((status = 201, body = Instance), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub async fn create_instance(
    caller: Caller,
    State(s): State<AppState>,
    Body(i): Body<Instance>,
) -> ApiResult<(StatusCode, Json<Instance>)> {
    caller.admin()?;
    let st = store(&s)?;
    st.add_ma_instance(&i.name, parley_store::unix_now())
        .await
        .map_err(|e| ApiError::store(e, "name"))?;
    audit(&s, &caller, "ma.instance.add", &i.name, "").await;
    Ok((StatusCode::CREATED, Json(i)))
}

/// Remove an application instance with all its groups (administrators).
#[utoipa::path(delete, path = "/api/v1/ma/{instance}", tag = "groups",
    params(("instance" = String, Path, description = "Application instance")),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub async fn delete_instance(
    caller: Caller,
    State(s): State<AppState>,
    P(inst): P<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    let st = store(&s)?;
    st.remove_ma_instance(&inst)
        .await
        .map_err(|e| ApiError::store(e, "instance"))?;
    audit(&s, &caller, "ma.instance.remove", &inst, "").await;
    Ok(StatusCode::NO_CONTENT)
}
