//! The Conference Center's conferences in the database: read one for a caller who keys its ID, list
//! them for the administrator, enable, disable and change the password of an unscheduled one. The
//! checks of IDs and passwords are `parley_core::conference`'s; a row written by hand that breaks
//! them is skipped with a warning, never admitted.

use parley_core::conference::{Conference, ConferenceId, ConferencePassword, Kind};
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
    let kind = match r.get::<String, _>("kind").as_str() {
        "unscheduled" => Kind::Unscheduled {
            enabled: flag(r, "enabled"),
        },
        // Scheduled conferences are not read yet: none is joinable.
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

const COLUMNS: &str = "id, password, description, kind, enabled, creator, seats";

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
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM conferences ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
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

    /// Change an unscheduled conference: open or close it to callers, give it a new password.
    /// Refused for an ID that is no unscheduled conference.
    pub async fn set_unscheduled(
        &self,
        id: &ConferenceId,
        enabled: Option<bool>,
        password: Option<&ConferencePassword>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let found: Option<String> =
            sqlx::query_scalar("SELECT kind FROM conferences WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if found.as_deref() != Some("unscheduled") {
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
        tx.commit().await?;
        Ok(())
    }
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
        assert!(c.joinable() && c.password.matches("481"));
        let p = ConferencePassword::new("97531").unwrap();
        s.set_unscheduled(&id, Some(false), Some(&p)).await.unwrap();
        let c = s.conference(&id).await.unwrap().unwrap();
        assert!(!c.joinable() && c.password.matches("97531"));
        let none = ConferenceId::new("999").unwrap();
        assert!(s.conference(&none).await.unwrap().is_none());
        assert!(s.set_unscheduled(&none, Some(true), None).await.is_err());
    }
}
