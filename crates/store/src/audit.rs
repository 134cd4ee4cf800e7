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
        // Names and details may come from strangers (log-in names, Callisto parameters): their control
        // characters are stored escaped, so no reader of the log is steered by them.
        use parley_core::text::escape_controls as safe;
        sqlx::query("INSERT INTO audit_log (at, actor, source, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(at)
            .bind(safe(actor))
            .bind(safe(source))
            .bind(safe(action))
            .bind(safe(target))
            .bind(safe(detail))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The latest entries, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn control_characters_are_stored_escaped() {
        let (s, _dir) = crate::test_store(None).await;
        s.audit(
            1,
            "101\nroot",
            "127.0.0.1",
            "ma.addGroup",
            "MA/\u{1b}[2J",
            "name=\"x\r\"",
        )
        .await
        .unwrap();
        let e = &s.audit_log(1).await.unwrap()[0];
        assert_eq!(e.actor, "101\\nroot");
        assert_eq!(e.target, "MA/\\u{1b}[2J");
        assert!(!e.detail.contains('\r'));
    }
}
