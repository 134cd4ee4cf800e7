//! ManagerAssistant application instances and their groups, members, VIP numbers and announcements; one
//! model that both the Callisto-compatible XML API and the JSON API read and write. A group's settings are
//! stored as the API's own parameter texts (checked by `parley_core::ma` before they get here).

use std::collections::BTreeMap;

use parley_core::ma::{
    AnnouncementSettings, GroupSettings, MemberSettings, VipSettings, GROUP_PARAMS,
};
use sqlx::Row;

use crate::{Store, StoreError};

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id (`gr_id`).
    pub id: i64,
    /// Its settings.
    pub settings: GroupSettings,
}

/// A stored member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Id (`gm_id`).
    pub id: i64,
    /// Group id.
    pub group: i64,
    /// Settings.
    pub settings: MemberSettings,
}

/// A stored VIP number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// Id (`vn_id`).
    pub id: i64,
    /// Number, description and owning member.
    pub settings: VipSettings,
}

/// A stored announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Id (`an_id`).
    pub id: i64,
    /// Group id.
    pub group: i64,
    /// Settings.
    pub settings: AnnouncementSettings,
}

/// Outcome of a change that may hit a duplicate name or a missing row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Done.
    Done(T),
    /// No such row (or it belongs to another instance).
    NotFound,
    /// A group with this name exists already in the instance.
    Duplicate,
}

fn settings_json(g: &GroupSettings) -> String {
    let map: BTreeMap<&str, String> = GROUP_PARAMS.iter().map(|p| (*p, g.api_value(p))).collect();
    serde_json::to_string(&map).unwrap_or_default()
}

fn settings_from(json: &str) -> GroupSettings {
    let map: BTreeMap<String, String> = serde_json::from_str(json).unwrap_or_default();
    GroupSettings::from_api(&map)
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn instance_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

impl Store {
    /// Create an application instance (`<MAGroup>` in the API paths).
    pub async fn add_ma_instance(&self, name: &str, now: i64) -> Result<(), StoreError> {
        if !instance_name_ok(name) {
            return Err(StoreError::Invalid(format!(
                "instance name must be 1-64 letters, digits, '_', '-' or '.', got {name:?}"
            )));
        }
        match sqlx::query("INSERT INTO ma_instances (name, created_at) VALUES ($1, $2)")
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e) => Err(StoreError::Duplicate(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove an instance and everything in it.
    pub async fn remove_ma_instance(&self, name: &str) -> Result<(), StoreError> {
        let r = sqlx::query("DELETE FROM ma_instances WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// All instances.
    pub async fn ma_instances(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM ma_instances ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get("name")).collect())
    }

    /// Whether an instance exists.
    pub async fn ma_instance_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM ma_instances WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Add a group; `Duplicate` when the name is taken in the instance.
    pub async fn add_group(
        &self,
        instance: &str,
        g: &GroupSettings,
    ) -> Result<Change<i64>, StoreError> {
        let r = sqlx::query(
            "INSERT INTO ma_groups (instance, name, settings) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(instance)
        .bind(&g.name)
        .bind(settings_json(g))
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(row) => Ok(Change::Done(row.get("id"))),
            Err(e) if unique_violation(&e) => Ok(Change::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// One group of an instance.
    pub async fn group(&self, instance: &str, id: i64) -> Result<Option<Group>, StoreError> {
        let row = sqlx::query("SELECT id, settings FROM ma_groups WHERE instance = $1 AND id = $2")
            .bind(instance)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Group {
            id: r.get("id"),
            settings: settings_from(&r.get::<String, _>("settings")),
        }))
    }

    /// Replace a group's settings.
    pub async fn update_group(
        &self,
        instance: &str,
        id: i64,
        g: &GroupSettings,
    ) -> Result<Change<()>, StoreError> {
        let r = sqlx::query(
            "UPDATE ma_groups SET name = $1, settings = $2 WHERE instance = $3 AND id = $4",
        )
        .bind(&g.name)
        .bind(settings_json(g))
        .bind(instance)
        .bind(id)
        .execute(&self.pool)
        .await;
        match r {
            Ok(r) if r.rows_affected() == 0 => Ok(Change::NotFound),
            Ok(_) => Ok(Change::Done(())),
            Err(e) if unique_violation(&e) => Ok(Change::Duplicate),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a group (with its members, their VIP numbers, and its announcements).
    pub async fn delete_group(&self, instance: &str, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM ma_groups WHERE instance = $1 AND id = $2")
            .bind(instance)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Groups whose name contains `name` (case-insensitive; all when empty), or the one with `id`.
    pub async fn find_groups(
        &self,
        instance: &str,
        name: &str,
        id: Option<i64>,
    ) -> Result<Vec<Group>, StoreError> {
        let pattern = format!(
            "%{}%",
            name.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(
            "SELECT id, settings FROM ma_groups WHERE instance = $1 AND LOWER(name) LIKE LOWER($2) ESCAPE '\\' AND ($3 IS NULL OR id = $4) ORDER BY id",
        )
        .bind(instance)
        .bind(pattern)
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Group {
                id: r.get("id"),
                settings: settings_from(&r.get::<String, _>("settings")),
            })
            .collect())
    }

    /// Add a member to a group of the instance (`None` if the group is not there).
    pub async fn add_member(
        &self,
        instance: &str,
        group: i64,
        m: &MemberSettings,
    ) -> Result<Option<i64>, StoreError> {
        if self.group(instance, group).await?.is_none() {
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO ma_members (group_id, user_name, number, short_name, manager, displayed_group) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(group)
        .bind(&m.user_name)
        .bind(&m.number)
        .bind(&m.short_name)
        .bind(m.manager)
        .bind(&m.displayed_group)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(row.get("id")))
    }

    /// Members of the instance's groups (one group, or all).
    pub async fn members(
        &self,
        instance: &str,
        group: Option<i64>,
        id: Option<i64>,
    ) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.* FROM ma_members m JOIN ma_groups g ON g.id = m.group_id
             WHERE g.instance = $1 AND ($2 IS NULL OR m.group_id = $3) AND ($4 IS NULL OR m.id = $5) ORDER BY m.id",
        )
        .bind(instance)
        .bind(group)
        .bind(group)
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Member {
                id: r.get("id"),
                group: r.get("group_id"),
                settings: MemberSettings {
                    user_name: r.get("user_name"),
                    number: r.get("number"),
                    short_name: r.get("short_name"),
                    manager: crate::db::flag(r, "manager"),
                    displayed_group: r.get("displayed_group"),
                },
            })
            .collect())
    }

    /// Replace a member's settings (false if it is not in the instance).
    pub async fn update_member(
        &self,
        instance: &str,
        id: i64,
        m: &MemberSettings,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE ma_members SET user_name = $1, number = $2, short_name = $3, manager = $4, displayed_group = $5
             WHERE id = $6 AND group_id IN (SELECT id FROM ma_groups WHERE instance = $7)",
        )
        .bind(&m.user_name)
        .bind(&m.number)
        .bind(&m.short_name)
        .bind(m.manager)
        .bind(&m.displayed_group)
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Delete a member (false if it is not in the instance).
    pub async fn delete_member(&self, instance: &str, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "DELETE FROM ma_members WHERE id = $1 AND group_id IN (SELECT id FROM ma_groups WHERE instance = $2)",
        )
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Add a VIP number to a member of the instance (`None` if the member is not there).
    pub async fn add_vip(
        &self,
        instance: &str,
        v: &VipSettings,
    ) -> Result<Option<i64>, StoreError> {
        if self
            .members(instance, None, Some(v.member))
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO ma_vip (member_id, number, description) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(v.member)
        .bind(&v.number)
        .bind(&v.description)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(row.get("id")))
    }

    /// VIP numbers of the instance (one member's, or all).
    pub async fn vips(
        &self,
        instance: &str,
        member: Option<i64>,
        id: Option<i64>,
    ) -> Result<Vec<Vip>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.* FROM ma_vip v JOIN ma_members m ON m.id = v.member_id JOIN ma_groups g ON g.id = m.group_id
             WHERE g.instance = $1 AND ($2 IS NULL OR v.member_id = $3) AND ($4 IS NULL OR v.id = $5) ORDER BY v.id",
        )
        .bind(instance)
        .bind(member)
        .bind(member)
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Vip {
                id: r.get("id"),
                settings: VipSettings {
                    number: r.get("number"),
                    description: r.get("description"),
                    member: r.get("member_id"),
                },
            })
            .collect())
    }

    /// Replace a VIP number (false if it is not in the instance or its new member is not).
    pub async fn update_vip(
        &self,
        instance: &str,
        id: i64,
        v: &VipSettings,
    ) -> Result<bool, StoreError> {
        if self
            .members(instance, None, Some(v.member))
            .await?
            .is_empty()
        {
            return Ok(false);
        }
        let r = sqlx::query(
            "UPDATE ma_vip SET number = $1, description = $2, member_id = $3 WHERE id = $4 AND member_id IN
             (SELECT m.id FROM ma_members m JOIN ma_groups g ON g.id = m.group_id WHERE g.instance = $5)",
        )
        .bind(&v.number)
        .bind(&v.description)
        .bind(v.member)
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Delete a VIP number (false if it is not in the instance).
    pub async fn delete_vip(&self, instance: &str, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "DELETE FROM ma_vip WHERE id = $1 AND member_id IN
             (SELECT m.id FROM ma_members m JOIN ma_groups g ON g.id = m.group_id WHERE g.instance = $2)",
        )
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Add an announcement to a group of the instance (`None` if the group is not there).
    pub async fn add_announcement(
        &self,
        instance: &str,
        group: i64,
        a: &AnnouncementSettings,
    ) -> Result<Option<i64>, StoreError> {
        if self.group(instance, group).await?.is_none() {
            return Ok(None);
        }
        let row = sqlx::query(
            "INSERT INTO ma_announcements (group_id, wave, priority) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(group)
        .bind(&a.wave)
        .bind(i64::from(a.priority))
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(row.get("id")))
    }

    /// Announcements of the instance's groups (one group, or all), by priority.
    pub async fn announcements(
        &self,
        instance: &str,
        group: Option<i64>,
        id: Option<i64>,
    ) -> Result<Vec<Announcement>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.* FROM ma_announcements a JOIN ma_groups g ON g.id = a.group_id
             WHERE g.instance = $1 AND ($2 IS NULL OR a.group_id = $3) AND ($4 IS NULL OR a.id = $5) ORDER BY a.group_id, a.priority, a.id",
        )
        .bind(instance)
        .bind(group)
        .bind(group)
        .bind(id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Announcement {
                id: r.get("id"),
                group: r.get("group_id"),
                settings: AnnouncementSettings {
                    wave: r.get("wave"),
                    priority: r.get::<i64, _>("priority") as u32,
                },
            })
            .collect())
    }

    /// Replace an announcement (false if it is not in the instance).
    pub async fn update_announcement(
        &self,
        instance: &str,
        id: i64,
        a: &AnnouncementSettings,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE ma_announcements SET wave = $1, priority = $2 WHERE id = $3 AND group_id IN (SELECT id FROM ma_groups WHERE instance = $4)",
        )
        .bind(&a.wave)
        .bind(i64::from(a.priority))
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Delete an announcement (false if it is not in the instance).
    pub async fn delete_announcement(&self, instance: &str, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "DELETE FROM ma_announcements WHERE id = $1 AND group_id IN (SELECT id FROM ma_groups WHERE instance = $2)",
        )
        .bind(id)
        .bind(instance)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_are_unique_by_name_per_instance_and_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        s.add_ma_instance("MA", 1).await.unwrap();
        s.add_ma_instance("Other", 1).await.unwrap();
        assert!(matches!(
            s.add_ma_instance("MA", 1).await,
            Err(StoreError::Duplicate(_))
        ));
        assert!(s.add_ma_instance("bad name", 1).await.is_err());
        let g = GroupSettings {
            name: "Support".into(),
            ..Default::default()
        };
        let Change::Done(id) = s.add_group("MA", &g).await.unwrap() else {
            panic!()
        };
        assert_eq!(
            s.add_group(
                "MA",
                &GroupSettings {
                    name: "support".into(),
                    ..Default::default()
                }
            )
            .await
            .unwrap(),
            Change::Duplicate
        );
        assert!(matches!(
            s.add_group("Other", &g).await.unwrap(),
            Change::Done(_)
        ));
        // Both back ends fold ASCII letters only (SQLite's NOCASE): "Ärzte" and "ärzte" are two.
        for name in ["Ärzte", "ärzte"] {
            let g = GroupSettings {
                name: name.into(),
                ..Default::default()
            };
            assert!(matches!(
                s.add_group("MA", &g).await.unwrap(),
                Change::Done(_)
            ));
        }
        assert_eq!(s.find_groups("MA", "port", None).await.unwrap().len(), 1);
        assert_eq!(
            s.find_groups("MA", "", Some(id + 100)).await.unwrap().len(),
            0
        );
        assert_eq!(s.find_groups("MA", "50%", None).await.unwrap().len(), 0);
        let m = MemberSettings {
            user_name: "Bob".into(),
            number: "101".into(),
            short_name: "B".into(),
            manager: true,
            displayed_group: String::new(),
        };
        let mid = s.add_member("MA", id, &m).await.unwrap().unwrap();
        assert_eq!(s.add_member("Other", id, &m).await.unwrap(), None);
        let v = VipSettings {
            number: "555".into(),
            description: "boss".into(),
            member: mid,
        };
        assert!(s.add_vip("MA", &v).await.unwrap().is_some());
        assert!(s.delete_group("MA", id).await.unwrap());
        assert!(s.members("MA", None, None).await.unwrap().is_empty());
        assert!(s.vips("MA", None, None).await.unwrap().is_empty());
    }
}
