//! The Conference Center's conferences in the database: read one for a caller who keys its ID; list
//! them (all, or a user's as Creator or Moderator); schedule one (the system assigns its ID and
//! password), change, cancel or delete it; enable, disable and change the password of an unscheduled
//! one; the attendance of each session for the statistics; and the removal of expired and canceled
//! conferences 30 days old. The checks of IDs, passwords and schedules are `parley_core::conference`'s;
//! a row written by hand that breaks them is skipped with a warning, never admitted.

use parley_core::conference::{
    Conference, ConferenceId, ConferencePassword, Kind, Repeat, Schedule, State,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::flag;
use crate::{Store, StoreError};

/// A conference as the administrator lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceRow {
    /// The conference.
    pub conference: Conference,
    /// Its Creator's extension (`None`: the administrator).
    pub creator: Option<String>,
    /// Its Moderators' extensions.
    pub moderators: Vec<String>,
}

fn conference(r: &AnyRow) -> Option<Conference> {
    let id: String = r.get("id");
    let (Ok(cid), Ok(password)) = (
        ConferenceId::new(&id),
        ConferencePassword::new(&r.get::<String, _>("password")),
    ) else {
        tracing::warn!(conference = %parley_core::text::Printable(&id), "a stored conference with an unusable ID or password is skipped");
        return None;
    };
    let int = |c: &str| r.try_get::<Option<i64>, _>(c).ok().flatten();
    let kind = match r.get::<String, _>("kind").as_str() {
        "unscheduled" => Kind::Unscheduled {
            enabled: flag(r, "enabled"),
        },
        "scheduled" => {
            let schedule = Schedule {
                starts_at: int("starts_at")?,
                duration_secs: u32::try_from(int("duration_secs")?).ok()?,
                repeat: Repeat::from_days(u32::try_from(int("repeat_days")?).ok()?).ok()?,
                time_zone: r.try_get::<Option<String>, _>("time_zone").ok().flatten()?,
                canceled_at: int("canceled_at"),
            };
            if schedule.check().is_err() {
                tracing::warn!(conference = %cid, "a stored conference with an unusable schedule is skipped");
                return None;
            }
            Kind::Scheduled(schedule)
        }
        _ => return None,
    };
    Some(Conference {
        id: cid,
        password,
        description: r.get("description"),
        kind,
        seats: r
            .try_get::<Option<i64>, _>("seats")
            .ok()
            .flatten()
            .and_then(|n| u16::try_from(n).ok()),
    })
}

const COLUMNS: &str = "id, password, description, kind, enabled, creator, seats, starts_at, \
                       duration_secs, repeat_days, time_zone, canceled_at";

/// Expired and canceled conferences are deleted this long after (the seed's 30 days).
pub const KEEP_ENDED_SECS: i64 = 30 * 86_400;

/// What a Creator gives for a new scheduled conference, or a change of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledConference {
    /// Its purpose.
    pub description: String,
    /// When.
    pub schedule: Schedule,
    /// Its Moderators' extensions.
    pub moderators: Vec<String>,
}

/// One attendee of a past or current session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// The session (when its room opened, seconds since the epoch).
    pub session: i64,
    /// The caller.
    pub caller: String,
    /// When it joined and left (seconds since the epoch).
    pub joined_at: i64,
    /// When it left.
    pub left_at: i64,
}

/// Longest description.
const DESCRIPTION_MAX: usize = 200;

fn check_description(d: &str) -> Result<String, StoreError> {
    let d = d.trim();
    if d.chars().count() > DESCRIPTION_MAX || d.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "a description is at most {DESCRIPTION_MAX} characters on one line"
        )));
    }
    Ok(d.to_string())
}

fn no_scheduled(id: &ConferenceId) -> StoreError {
    StoreError::Invalid(format!("there is no scheduled conference {id}"))
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

impl Store {
    /// The conference with this ID, if there is one Parley can use.
    pub async fn conference(&self, id: &ConferenceId) -> Result<Option<Conference>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM conferences WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().and_then(conference))
    }

    /// Every conference, by ID, with its Creator and Moderators.
    pub async fn conferences(&self) -> Result<Vec<ConferenceRow>, StoreError> {
        self.conferences_where("", None).await
    }

    /// The conferences `extension` is the Creator or a Moderator of.
    pub async fn conferences_of(&self, extension: &str) -> Result<Vec<ConferenceRow>, StoreError> {
        self.conferences_where(
            "WHERE creator = $1 OR id IN \
             (SELECT conference FROM conference_moderators WHERE extension = $1)",
            Some(extension),
        )
        .await
    }

    /// One conference with its Creator and Moderators.
    pub async fn conference_row(
        &self,
        id: &ConferenceId,
    ) -> Result<Option<ConferenceRow>, StoreError> {
        Ok(self
            .conferences_where("WHERE id = $1", Some(id.as_str()))
            .await?
            .pop())
    }

    /// The conferences `filter` (a `WHERE` clause whose one parameter is `param`) selects.
    async fn conferences_where(
        &self,
        filter: &str,
        param: Option<&str>,
    ) -> Result<Vec<ConferenceRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM conferences {filter} ORDER BY id");
        let mut q = sqlx::query(&sql);
        if let Some(p) = param {
            q = q.bind(p.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let moderators = sqlx::query(
            "SELECT conference, extension FROM conference_moderators ORDER BY conference, extension",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let c = conference(r)?;
                let moderators = moderators
                    .iter()
                    .filter(|m| m.get::<String, _>("conference") == c.id.as_str())
                    .map(|m| m.get("extension"))
                    .collect();
                Some(ConferenceRow {
                    creator: r.try_get("creator").ok().flatten(),
                    moderators,
                    conference: c,
                })
            })
            .collect())
    }

    /// Schedule a conference created by `creator`: the system assigns an unused six-digit ID and a
    /// six-digit password (both returned with it).
    pub async fn create_scheduled(
        &self,
        creator: &str,
        c: &ScheduledConference,
        now: i64,
    ) -> Result<Conference, StoreError> {
        c.schedule.check().map_err(invalid)?;
        let description = check_description(&c.description)?;
        for _ in 0..20 {
            let id = ConferenceId::new(&format!("{}", rand::random::<u32>() % 900_000 + 100_000))
                .map_err(invalid)?;
            let password =
                ConferencePassword::new(&format!("{:06}", rand::random::<u32>() % 1_000_000))
                    .map_err(invalid)?;
            let mut tx = self.pool.begin().await?;
            if kind_of(&mut tx, &id).await?.is_some() {
                continue;
            }
            let s = &c.schedule;
            sqlx::query(
                "INSERT INTO conferences (id, password, description, kind, enabled, creator, \
                 starts_at, duration_secs, repeat_days, time_zone, created_at) \
                 VALUES ($1, $2, $3, 'scheduled', $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id.as_str())
            .bind(password.expose())
            .bind(&description)
            .bind(true)
            .bind(creator)
            .bind(s.starts_at)
            .bind(i64::from(s.duration_secs))
            .bind(i64::from(s.repeat.days()))
            .bind(&s.time_zone)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            set_moderators(&mut tx, &id, &c.moderators).await?;
            tx.commit().await?;
            return Ok(Conference {
                id,
                password,
                description,
                kind: Kind::Scheduled(s.clone()),
                seats: None,
            });
        }
        Err(StoreError::Invalid(
            "no free conference ID was found: try again".into(),
        ))
    }

    /// Change a scheduled conference (its ID and password stay): description, time, repetition and
    /// Moderators. An expired one moved to a future time is queued again; a canceled one stays
    /// canceled.
    pub async fn update_scheduled(
        &self,
        id: &ConferenceId,
        c: &ScheduledConference,
    ) -> Result<(), StoreError> {
        c.schedule.check().map_err(invalid)?;
        let description = check_description(&c.description)?;
        let s = &c.schedule;
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE conferences SET description = $1, starts_at = $2, duration_secs = $3, \
             repeat_days = $4, time_zone = $5 WHERE id = $6 AND kind = 'scheduled'",
        )
        .bind(&description)
        .bind(s.starts_at)
        .bind(i64::from(s.duration_secs))
        .bind(i64::from(s.repeat.days()))
        .bind(&s.time_zone)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(no_scheduled(id));
        }
        set_moderators(&mut tx, id, &c.moderators).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cancel a scheduled conference (the Creator or a Moderator ended it for good).
    pub async fn cancel_conference(&self, id: &ConferenceId, now: i64) -> Result<(), StoreError> {
        let n = sqlx::query(
            "UPDATE conferences SET canceled_at = $1 WHERE id = $2 AND kind = 'scheduled' \
             AND canceled_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "there is no scheduled conference {id} to cancel"
            )));
        }
        Ok(())
    }

    /// Delete a scheduled conference (with its Moderators and statistics).
    pub async fn delete_conference(&self, id: &ConferenceId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM conferences WHERE id = $1 AND kind = 'scheduled'")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(no_scheduled(id));
        }
        for table in ["conference_moderators", "conference_attendance"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE conference = $1"))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Delete the scheduled conferences expired or canceled more than 30 days before `now`; returns
    /// how many.
    pub async fn prune_conferences(&self, now: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for row in self.conferences().await? {
            let c = &row.conference;
            let Kind::Scheduled(s) = &c.kind else {
                continue;
            };
            let ended = match c.state(now, false) {
                State::Canceled => s.canceled_at,
                State::Expired => s.current(now).map(|(_, end)| end),
                _ => None,
            };
            if ended.is_some_and(|t| t + KEEP_ENDED_SECS <= now) {
                self.delete_conference(&c.id).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Write one participant's time in a session.
    pub async fn record_attendance(
        &self,
        conference: &ConferenceId,
        session: i64,
        caller: &str,
        joined_at: i64,
        left_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conference_attendance (conference, session, caller, joined_at, left_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(conference.as_str())
        .bind(session)
        .bind(caller)
        .bind(joined_at)
        .bind(left_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The attendance of a conference's sessions, newest session first (at most the last 500 rows).
    pub async fn attendance(&self, conference: &ConferenceId) -> Result<Vec<Attendee>, StoreError> {
        let rows = sqlx::query(
            "SELECT session, caller, joined_at, left_at FROM conference_attendance \
             WHERE conference = $1 ORDER BY session DESC, joined_at LIMIT 500",
        )
        .bind(conference.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Attendee {
                session: r.get("session"),
                caller: r.get("caller"),
                joined_at: r.get("joined_at"),
                left_at: r.get("left_at"),
            })
            .collect())
    }

    /// Change an unscheduled conference: open or close it to callers, give it a new password, make
    /// users its Moderators. Refused for an ID that is no unscheduled conference.
    pub async fn set_unscheduled(
        &self,
        id: &ConferenceId,
        enabled: Option<bool>,
        password: Option<&ConferencePassword>,
        moderators: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if kind_of(&mut tx, id).await?.as_deref() != Some("unscheduled") {
            return Err(StoreError::Invalid(format!(
                "there is no unscheduled conference {id}"
            )));
        }
        if let Some(e) = enabled {
            sqlx::query("UPDATE conferences SET enabled = $1 WHERE id = $2")
                .bind(e)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(p) = password {
            sqlx::query("UPDATE conferences SET password = $1 WHERE id = $2")
                .bind(p.expose())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(m) = moderators {
            set_moderators(&mut tx, id, m).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The kind of conference `id` (`scheduled`, `unscheduled`), if there is one.
async fn kind_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &ConferenceId,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT kind FROM conferences WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Replace a conference's Moderators (each an existing extension).
async fn set_moderators(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &ConferenceId,
    moderators: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM conference_moderators WHERE conference = $1")
        .bind(id.as_str())
        .execute(&mut **tx)
        .await?;
    let mut seen = Vec::new();
    for m in moderators {
        let m = m.trim();
        if m.is_empty() || seen.contains(&m) {
            continue;
        }
        let exists: Option<String> =
            sqlx::query_scalar("SELECT extension FROM users WHERE extension = $1")
                .bind(m)
                .fetch_optional(&mut **tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::Invalid(format!(
                "moderator {m:?} is no extension"
            )));
        }
        sqlx::query("INSERT INTO conference_moderators (conference, extension) VALUES ($1, $2)")
            .bind(id.as_str())
            .bind(m)
            .execute(&mut **tx)
            .await?;
        seen.push(m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_seeds_unscheduled_conferences_are_there_and_can_be_disabled_and_given_a_password()
    {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        let ids: Vec<String> = s
            .conferences()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.conference.id.to_string())
            .collect();
        assert_eq!(ids, ["480", "481", "482", "483"]);
        let id = ConferenceId::new("481").unwrap();
        let c = s.conference(&id).await.unwrap().unwrap();
        assert!(c.joinable(0, false) && c.password.matches("481"));
        let p = ConferencePassword::new("97531").unwrap();
        s.set_unscheduled(&id, Some(false), Some(&p), None)
            .await
            .unwrap();
        let c = s.conference(&id).await.unwrap().unwrap();
        assert!(!c.joinable(0, false) && c.password.matches("97531"));
        let none = ConferenceId::new("999").unwrap();
        assert!(s.conference(&none).await.unwrap().is_none());
        assert!(s
            .set_unscheduled(&none, Some(true), None, None)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_scheduled_conference_gets_an_id_and_password_is_listed_for_its_creator_and_moderators_and_is_pruned_30_days_after(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        for ext in ["100", "101", "102"] {
            s.add_user(&crate::NewUser {
                extension: ext.into(),
                name: "Someone".into(),
                password: "secret1".into(),
                pin: None,
                email: None,
                privileges: Vec::new(),
            })
            .await
            .unwrap();
        }
        let schedule = Schedule::from_local(
            "2026-03-02",
            "10:00",
            "America/New_York",
            3600,
            Repeat::Once,
        )
        .unwrap();
        let start = schedule.starts_at;
        let new = ScheduledConference {
            description: "Feature Team Meeting".into(),
            schedule,
            moderators: vec!["101".into()],
        };
        let c = s
            .create_scheduled("100", &new, start - 86_400)
            .await
            .unwrap();
        assert_eq!(c.id.as_str().len(), 6);
        assert_eq!(c.password.expose().len(), 6);
        let read = s.conference(&c.id).await.unwrap().unwrap();
        assert_eq!(read, c);
        let mine = |ext: &'static str| {
            let s = s.clone();
            async move {
                s.conferences_of(ext)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.conference.id.to_string())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(mine("100").await, [c.id.to_string()]);
        assert_eq!(mine("101").await, [c.id.to_string()]);
        assert!(mine("102").await.is_empty());
        // A moderator who is no extension is refused; the conference is unchanged.
        let mut bad = new.clone();
        bad.moderators = vec!["999".into()];
        assert!(s.update_scheduled(&c.id, &bad).await.is_err());
        assert_eq!(mine("101").await, [c.id.to_string()]);
        // Attendance of a session.
        s.record_attendance(&c.id, start, "102", start + 10, start + 70)
            .await
            .unwrap();
        assert_eq!(s.attendance(&c.id).await.unwrap()[0].left_at, start + 70);
        // Expired at 11:00; kept 30 days, then deleted with what belongs to it.
        let end = start + 3600;
        assert_eq!(
            s.prune_conferences(end + KEEP_ENDED_SECS - 1)
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.prune_conferences(end + KEEP_ENDED_SECS).await.unwrap(), 1);
        assert!(s.conference(&c.id).await.unwrap().is_none());
        assert!(s.attendance(&c.id).await.unwrap().is_empty());
        // The unscheduled ones are never pruned.
        assert_eq!(s.conferences().await.unwrap().len(), 4);
    }
}
