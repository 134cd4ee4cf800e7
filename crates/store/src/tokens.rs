//! API tokens: created for an account (shown once), stored as SHA-256, looked up per request, revoked.

use sqlx::Row;

use crate::{Privilege, Store, StoreError};

/// A token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// The owner's label.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Store {
    /// Store a token's hash for `ext`.
    pub async fn add_token(
        &self,
        ext: &str,
        name: &str,
        hash: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "token name must be 1 to 100 printable characters".into(),
            ));
        }
        let row = sqlx::query(
            "INSERT INTO api_tokens (extension, name, hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(ext)
        .bind(name.trim())
        .bind(hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("id"))
    }

    /// The account (and its privileges) a token hash belongs to.
    pub async fn token_owner(
        &self,
        hash: &str,
    ) -> Result<Option<(String, Vec<Privilege>)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.extension, u.privileges FROM api_tokens t JOIN users u ON u.extension = t.extension WHERE t.hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            (
                r.get("extension"),
                crate::users::split_privileges(&r.get::<String, _>("privileges")),
            )
        }))
    }

    /// An account's tokens.
    pub async fn tokens(&self, ext: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at FROM api_tokens WHERE extension = $1 ORDER BY id",
        )
        .bind(ext)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenInfo {
                id: r.get("id"),
                name: r.get("name"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Revoke one of an account's tokens (false if it has no such token).
    pub async fn delete_token(&self, ext: &str, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM api_tokens WHERE extension = $1 AND id = $2")
            .bind(ext)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
