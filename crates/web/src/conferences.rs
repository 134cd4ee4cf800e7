//! The Conference Center as the JSON API and the portal's My Conferences share it: the conferences a
//! user is the Creator or a Moderator of (all of them for administrators), with their state, the
//! participants of one in session (who is talking) and the statistics of past sessions; scheduling a
//! conference (for users the administrator allowed to, `conferences`), with the conferences it
//! conflicts with and the times still free that day; changing, canceling, deleting and ending one,
//! and disconnecting a participant (its Creator, a Moderator, or an administrator); enabling,
//! disabling and re-passwording the unscheduled ones (administrators). Every change is audited.

use parley_core::conference::{
    self, Conference, ConferenceId, ConferencePassword, Kind, Repeat, Schedule, State,
};
use parley_core::switch::status::{snapshot, ParticipantView, RoomView};
use parley_core::switch::Control;
use parley_store::{ConferenceRow, Privilege, ScheduledConference};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use utoipa::ToSchema;

use crate::api::{audit, store, ApiError, ApiResult, Caller};
use crate::AppState;

/// A conference as its Creator and Moderators see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConferenceOut {
    /// The Conference ID attendees key in.
    pub id: String,
    /// The password attendees key in.
    pub password: String,
    /// Its purpose.
    pub description: String,
    /// `scheduled` or `unscheduled`.
    pub kind: String,
    /// Active, Queued, Expired, Canceled (scheduled); Enabled, Disabled (unscheduled).
    pub state: String,
    /// Its Creator's extension (`null`: the administrator).
    pub creator: Option<String>,
    /// Its Moderators' extensions.
    pub moderators: Vec<String>,
    /// When it takes place next, or took place last, in its time zone (`2026-12-07 10:00 EST`);
    /// scheduled conferences only.
    pub when: Option<String>,
    /// The same, in seconds since the epoch.
    pub starts_at: Option<i64>,
    /// Its length in minutes (scheduled).
    pub duration_minutes: Option<u32>,
    /// Repeats every this many days (0: one time only; scheduled).
    pub repeat_days: Option<u32>,
    /// Its time zone (scheduled).
    pub time_zone: Option<String>,
    /// Who is in it now.
    pub participants: Vec<ParticipantOut>,
    /// Scheduled conferences whose times overlap this one's (the next eight weeks).
    #[serde(default)]
    pub conflicts: Vec<ConflictOut>,
}

/// One participant of a conference in session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ParticipantOut {
    /// The participant's call (to disconnect it).
    pub call: u64,
    /// The caller.
    pub caller: String,
    /// Talking now.
    pub talking: bool,
}

/// A conference another one's time overlaps.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConflictOut {
    /// Its ID.
    pub id: String,
    /// Its purpose.
    pub description: String,
    /// When it takes place next.
    pub when: Option<String>,
}

/// A scheduled conference to add, or its new settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConferenceInput {
    /// Its purpose.
    #[serde(default)]
    pub description: String,
    /// The date, `YYYY-MM-DD`, in `time_zone`.
    pub date: String,
    /// The time, `HH:MM`, in `time_zone`.
    pub time: String,
    /// A tz database name (default: the server's).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Length in minutes (1 to 1440).
    pub duration_minutes: u32,
    /// 0 (one time only, the default), 1, 7, 14, 21 or 28.
    #[serde(default)]
    pub repeat_days: u32,
    /// Moderators' extensions.
    #[serde(default)]
    pub moderators: Vec<String>,
}

/// An unscheduled conference's change (administrators).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UnscheduledInput {
    /// Open (`true`) or closed to callers.
    pub enabled: Option<bool>,
    /// A new password (digits).
    pub password: Option<String>,
    /// Its Moderators' extensions (replacing the list).
    pub moderators: Option<Vec<String>>,
}

/// The periods of a day when another conference may be scheduled without a conflict over rooms.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityOut {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Its time zone.
    pub time_zone: String,
    /// Free periods, `HH:MM-HH:MM` in that time zone.
    pub free: Vec<String>,
}

/// One session of a conference and who attended it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionOut {
    /// When the first entered (seconds since the epoch).
    pub started_at: i64,
    /// Attendees, in the order they joined.
    pub attendees: Vec<AttendeeOut>,
}

/// One attendee of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttendeeOut {
    /// The caller.
    pub caller: String,
    /// When it joined (seconds since the epoch).
    pub joined_at: i64,
    /// When it left.
    pub left_at: i64,
    /// How long it stayed, in seconds.
    pub seconds: i64,
}

fn now() -> i64 {
    parley_store::unix_now()
}

fn conference_id(id: &str) -> ApiResult<ConferenceId> {
    ConferenceId::new(id)
        .map_err(|_| ApiError::not_found(format!("conference {id:?} does not exist")))
}

/// Whether the caller may manage `row`: its Creator, a Moderator, or an administrator.
fn manages(caller: &Caller, row: &ConferenceRow) -> bool {
    caller.who.has(Privilege::Admin)
        || row.creator.as_deref() == Some(caller.who.user.as_str())
        || row.moderators.contains(&caller.who.user)
}

/// The conference `id`, if the caller may manage it (else 404, not telling whether it exists).
async fn managed(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ConferenceRow> {
    let cid = conference_id(id)?;
    let row = store(s)?
        .conference_row(&cid)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    match row {
        Some(r) if manages(caller, &r) => Ok(r),
        _ => Err(ApiError::not_found(format!(
            "conference {id} does not exist"
        ))),
    }
}

/// What every conference's view needs, read once per request: the rooms in session (from the
/// status) and the scheduled conferences' times (for conflicts).
struct Context<'a> {
    rooms: Vec<RoomView>,
    timetable: conference::Timetable<'a>,
    now: i64,
}

impl<'a> Context<'a> {
    fn new(s: &AppState, all: &'a [Conference]) -> Context<'a> {
        let now = now();
        Context {
            rooms: snapshot(&s.status).conferences,
            timetable: conference::Timetable::new(all, now),
            now,
        }
    }
}

fn participants(rooms: &[RoomView], id: &ConferenceId) -> Vec<ParticipantOut> {
    rooms
        .iter()
        .filter(|r| r.id == id.as_str())
        .flat_map(|r| r.participants.iter().cloned())
        .filter(|p| p.joined)
        .map(
            |ParticipantView {
                 call,
                 caller,
                 talking,
                 ..
             }| ParticipantOut {
                call,
                caller,
                talking,
            },
        )
        .collect()
}

fn out(cx: &Context, row: &ConferenceRow) -> ConferenceOut {
    let c = &row.conference;
    let participants = participants(&cx.rooms, &c.id);
    let t = cx.now;
    let state = c.state(t, !participants.is_empty());
    let (when, starts_at, duration, repeat, zone, conflicts) = match &c.kind {
        Kind::Scheduled(sc) => {
            let at = sc
                .current(t)
                .filter(|(_, end)| *end > t || state == State::Expired)
                .map(|(start, _)| start)
                .or_else(|| sc.next(t))
                .unwrap_or(sc.starts_at);
            let conflicts = if state == State::Canceled {
                Vec::new()
            } else {
                cx.timetable
                    .conflicts(sc, Some(&c.id))
                    .into_iter()
                    .map(|x| conflict(x, t))
                    .collect()
            };
            (
                Some(sc.local(at)),
                Some(at),
                Some(sc.duration_secs / 60),
                Some(sc.repeat.days()),
                Some(sc.time_zone.clone()),
                conflicts,
            )
        }
        Kind::Unscheduled { .. } => (None, None, None, None, None, Vec::new()),
    };
    ConferenceOut {
        id: c.id.to_string(),
        password: c.password.expose().to_string(),
        description: c.description.clone(),
        kind: if c.unscheduled() {
            "unscheduled"
        } else {
            "scheduled"
        }
        .into(),
        state: state.label().into(),
        creator: row.creator.clone(),
        moderators: row.moderators.clone(),
        when,
        starts_at,
        duration_minutes: duration,
        repeat_days: repeat,
        time_zone: zone,
        participants,
        conflicts,
    }
}

fn conflict(c: &Conference, now: i64) -> ConflictOut {
    let when = match &c.kind {
        Kind::Scheduled(s) => s.next(now).or(Some(s.starts_at)).map(|t| s.local(t)),
        Kind::Unscheduled { .. } => None,
    };
    ConflictOut {
        id: c.id.to_string(),
        description: c.description.clone(),
        when,
    }
}

async fn all_conferences(s: &AppState) -> ApiResult<Vec<ConferenceRow>> {
    store(s)?
        .conferences()
        .await
        .map_err(|e| ApiError::store(e, ""))
}

/// The conferences the caller is the Creator or a Moderator of (every one for administrators).
pub async fn list(s: &AppState, caller: &Caller) -> ApiResult<Vec<ConferenceOut>> {
    let all = all_conferences(s).await?;
    let plain: Vec<Conference> = all.iter().map(|r| r.conference.clone()).collect();
    let cx = Context::new(s, &plain);
    Ok(all
        .iter()
        .filter(|r| manages(caller, r))
        .map(|r| out(&cx, r))
        .collect())
}

/// One conference the caller manages (else 404, not telling whether it exists).
pub async fn get(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ConferenceOut> {
    let all = all_conferences(s).await?;
    let row = all
        .iter()
        .find(|r| r.conference.id.as_str() == id && manages(caller, r))
        .ok_or_else(|| ApiError::not_found(format!("conference {id} does not exist")))?;
    let plain: Vec<Conference> = all.iter().map(|r| r.conference.clone()).collect();
    Ok(out(&Context::new(s, &plain), row))
}

fn scheduled(s: &AppState, input: &ConferenceInput) -> ApiResult<ScheduledConference> {
    let zone = input
        .time_zone
        .as_deref()
        .map(str::trim)
        .filter(|z| !z.is_empty())
        .unwrap_or(&s.time_zone);
    let repeat = Repeat::from_days(input.repeat_days)
        .map_err(|e| ApiError::invalid("repeat_days", e.to_string()))?;
    let minutes = input.duration_minutes;
    if !(1..=conference::MAX_DURATION_SECS / 60).contains(&minutes) {
        return Err(ApiError::invalid(
            "duration_minutes",
            "a conference lasts from 1 minute to 24 hours",
        ));
    }
    let schedule = Schedule::from_local(&input.date, &input.time, zone, minutes * 60, repeat)
        .map_err(|e| {
            let field = match e {
                conference::ConferenceError::BadTimeZone(_) => "time_zone",
                _ => "date",
            };
            ApiError::invalid(field, e.to_string())
        })?;
    Ok(ScheduledConference {
        description: input.description.clone(),
        schedule,
        moderators: input.moderators.clone(),
    })
}

/// Schedule a conference (users the administrator allowed to, and administrators): the system
/// assigns its ID and password; the answer lists the conferences whose times it overlaps.
pub async fn add(
    s: &AppState,
    caller: &Caller,
    input: &ConferenceInput,
) -> ApiResult<ConferenceOut> {
    if !caller.who.has(Privilege::Conferences) && !caller.who.has(Privilege::Admin) {
        return Err(ApiError::forbidden(
            "the administrator has not allowed you to create conferences",
        ));
    }
    let new = scheduled(s, input)?;
    let c = store(s)?
        .create_scheduled(&caller.who.user, &new, now())
        .await
        .map_err(|e| ApiError::store(e, "moderators"))?;
    audit(s, caller, "conference.add", c.id.as_str(), &new.description).await;
    get(s, caller, c.id.as_str()).await
}

/// Change a scheduled conference (its ID and password stay; an expired one moved to a future time
/// is queued again).
pub async fn change(
    s: &AppState,
    caller: &Caller,
    id: &str,
    input: &ConferenceInput,
) -> ApiResult<ConferenceOut> {
    let row = managed(s, caller, id).await?;
    if row.conference.unscheduled() {
        return Err(ApiError::invalid(
            "id",
            "an unscheduled conference has no time: the administrator enables or disables it",
        ));
    }
    let new = scheduled(s, input)?;
    store(s)?
        .update_scheduled(&row.conference.id, &new)
        .await
        .map_err(|e| ApiError::store(e, "moderators"))?;
    audit(s, caller, "conference.set", id, &new.description).await;
    get(s, caller, id).await
}

/// Change an unscheduled conference (administrators): open or close it, give it a new password.
pub async fn change_unscheduled(
    s: &AppState,
    caller: &Caller,
    id: &str,
    input: &UnscheduledInput,
) -> ApiResult<ConferenceOut> {
    caller.admin()?;
    let cid = conference_id(id)?;
    let password = input
        .password
        .as_deref()
        .map(|p| {
            ConferencePassword::new(p.trim())
                .map_err(|e| ApiError::invalid("password", e.to_string()))
        })
        .transpose()?;
    store(s)?
        .set_unscheduled(
            &cid,
            input.enabled,
            password.as_ref(),
            input.moderators.as_deref(),
        )
        .await
        .map_err(|e| {
            let field = if matches!(&e, parley_store::StoreError::Invalid(m) if m.contains("moderator")) {
                "moderators"
            } else {
                "id"
            };
            ApiError::store(e, field)
        })?;
    let what = match input.enabled {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "",
    };
    audit(s, caller, "conference.set", id, what).await;
    get(s, caller, id).await
}

/// Ask the SIP server to end the session of `id` in progress; answers how many were in it.
async fn end_session(s: &AppState, id: &ConferenceId) -> usize {
    let Some(c) = s.control.as_ref() else {
        return 0;
    };
    let (reply, answer) = oneshot::channel();
    let sent = c.send(Control::EndConference {
        conference: id.clone(),
        reply: Box::new(move |n| {
            let _ = reply.send(n);
        }),
    });
    if sent.is_err() {
        return 0;
    }
    answer.await.unwrap_or(0)
}

/// End the session in progress (everyone in it is told and their calls end); answers how many were
/// in it. A scheduled conference stays scheduled (its next occurrence comes).
pub async fn end(s: &AppState, caller: &Caller, id: &str) -> ApiResult<usize> {
    let row = managed(s, caller, id).await?;
    let n = end_session(s, &row.conference.id).await;
    audit(
        s,
        caller,
        "conference.end",
        id,
        &format!("{n} participants"),
    )
    .await;
    Ok(n)
}

/// Cancel a scheduled conference: it is ended if in session, and becomes Canceled.
pub async fn cancel(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ConferenceOut> {
    let row = managed(s, caller, id).await?;
    store(s)?
        .cancel_conference(&row.conference.id, now())
        .await
        .map_err(|e| ApiError::store(e, "id"))?;
    end_session(s, &row.conference.id).await;
    audit(s, caller, "conference.cancel", id, "").await;
    get(s, caller, id).await
}

/// Delete a scheduled conference (ended first if in session).
pub async fn delete(s: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let row = managed(s, caller, id).await?;
    store(s)?
        .delete_conference(&row.conference.id)
        .await
        .map_err(|e| ApiError::store(e, "id"))?;
    end_session(s, &row.conference.id).await;
    audit(s, caller, "conference.remove", id, "").await;
    Ok(())
}

/// Disconnect participant `call` of conference `id` (its call ends).
pub async fn disconnect(s: &AppState, caller: &Caller, id: &str, call: u64) -> ApiResult<()> {
    let row = managed(s, caller, id).await?;
    let Some(c) = s.control.as_ref() else {
        return Err(ApiError::not_found("no SIP server"));
    };
    let (reply, answer) = oneshot::channel();
    let sent = c.send(Control::Disconnect {
        conference: row.conference.id.clone(),
        call,
        reply: Box::new(move |b| {
            let _ = reply.send(b);
        }),
    });
    let done = sent.is_ok() && answer.await.unwrap_or(false);
    if !done {
        return Err(ApiError::not_found(format!(
            "call {call} is not in conference {id}"
        )));
    }
    audit(s, caller, "conference.disconnect", id, &call.to_string()).await;
    Ok(())
}

/// The sessions of conference `id`, newest first, with their attendees.
pub async fn sessions(s: &AppState, caller: &Caller, id: &str) -> ApiResult<Vec<SessionOut>> {
    let row = managed(s, caller, id).await?;
    let rows = store(s)?
        .attendance(&row.conference.id)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    let mut out: Vec<SessionOut> = Vec::new();
    for a in rows {
        let attendee = AttendeeOut {
            caller: a.caller,
            joined_at: a.joined_at,
            left_at: a.left_at,
            seconds: (a.left_at - a.joined_at).max(0),
        };
        match out.last_mut() {
            Some(s) if s.started_at == a.session => s.attendees.push(attendee),
            _ => out.push(SessionOut {
                started_at: a.session,
                attendees: vec![attendee],
            }),
        }
    }
    Ok(out)
}

/// The free periods of `date` in `time_zone` (default: the server's), for scheduling.
pub async fn availability(
    s: &AppState,
    date: &str,
    time_zone: Option<&str>,
) -> ApiResult<AvailabilityOut> {
    let zone = time_zone
        .map(str::trim)
        .filter(|z| !z.is_empty())
        .unwrap_or(&s.time_zone)
        .to_string();
    let day = Schedule::from_local(date, "00:00", &zone, 60, Repeat::Once)
        .map_err(|e| ApiError::invalid("date", e.to_string()))?;
    let next = Schedule::from_local(date, "00:00", &zone, 60, Repeat::Daily)
        .ok()
        .and_then(|d| d.occurrence(1))
        .unwrap_or(day.starts_at + 86_400);
    let all: Vec<Conference> = all_conferences(s)
        .await?
        .into_iter()
        .map(|r| r.conference)
        .collect();
    let hm = |t: i64| {
        let text = day.local(t);
        text.split(' ').nth(1).unwrap_or("").to_string()
    };
    let free = conference::available(&all, day.starts_at, next, s.conference.active_limit)
        .into_iter()
        .map(|(a, b)| {
            let end = if b >= next {
                "24:00".to_string()
            } else {
                hm(b)
            };
            format!("{}-{end}", hm(a))
        })
        .collect();
    Ok(AvailabilityOut {
        date: date.trim().to_string(),
        time_zone: zone,
        free,
    })
}
