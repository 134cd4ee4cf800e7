//! The audit log: who changed what, when, and from where, for every change made through an API or the
//! command line. Append-only.

use sqlx::Row;

use crate::{Store, StoreError};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who (an extension, or `cli`).
    pub actor: String,
    /// From where (an address, or `local`).
    pub source: String,
    /// What (`ma.addGroup`, `user.add`...).
    pub action: String,
    /// On what (`MA/group/45`).
    pub target: String,
    /// The parameters, without secrets.
    pub detail: String,
}

impl Store {
    /// Record a change.
    pub async fn audit(
        &self,
        at: i64,
        actor: &str,
        source: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (at, actor, source, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(at)
            .bind(actor)
            .bind(source)
            .bind(action)
            .bind(target)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The latest entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get("id"),
                at: r.get("at"),
                actor: r.get("actor"),
                source: r.get("source"),
                action: r.get("action"),
                target: r.get("target"),
                detail: r.get("detail"),
            })
            .collect())
    }
}
