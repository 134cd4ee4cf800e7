//! Call records ("My Call Details"): one row per call, written when it ends, with who called whom,
//! when, for how long and how it ended. Listed per extension, newest first.

use sqlx::Row;

use crate::{Store, StoreError};

/// How a call ended and which way it went; the switch decides both.
pub use parley_core::switch::{Direction, Outcome};

/// One call, as written when it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallRecord {
    /// Id (0 before it is stored).
    pub id: i64,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// The calling extension or number.
    pub caller: String,
    /// The caller's name, when the call carried one.
    pub caller_name: Option<String>,
    /// The number called.
    pub callee: String,
    /// The user whose call route sent it elsewhere (the extension first dialled), if it was.
    pub routed_by: Option<String>,
    /// Who took it: the extension whose phone answered, or the number outside.
    pub answered_by: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Time connected (answered, or in voicemail), in milliseconds.
    pub talk_ms: i64,
    /// From start to end, in milliseconds.
    pub total_ms: i64,
    /// Which way it went: between extensions, from outside, to outside.
    pub direction: Direction,
    /// The trunk a call from or to outside went through (none: no trunk took it).
    pub trunk: Option<String>,
}

impl Store {
    /// Write a call record; returns its id.
    pub async fn add_call_record(&self, r: &CallRecord) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO call_records (started_at, caller, caller_name, callee, outcome, talk_ms, total_ms,
             direction, trunk, routed_by, answered_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(r.started_at)
        .bind(&r.caller)
        .bind(&r.caller_name)
        .bind(&r.callee)
        .bind(r.outcome.as_str())
        .bind(r.talk_ms)
        .bind(r.total_ms)
        .bind(r.direction.as_str())
        .bind(&r.trunk)
        .bind(&r.routed_by)
        .bind(&r.answered_by)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get("id"))
    }

    /// The latest calls made or received by `ext` (all calls when `None`), those its route sent
    /// elsewhere and those it took for another, newest first.
    pub async fn call_records(
        &self,
        ext: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM call_records WHERE $1 IS NULL OR caller = $1 OR callee = $1
             OR routed_by = $1 OR answered_by = $1
             ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .bind(ext)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CallRecord {
                id: r.get("id"),
                started_at: r.get("started_at"),
                caller: r.get("caller"),
                caller_name: r.get("caller_name"),
                callee: r.get("callee"),
                outcome: Outcome::parse(r.get::<&str, _>("outcome")).unwrap_or(Outcome::Failed),
                talk_ms: r.get("talk_ms"),
                total_ms: r.get("total_ms"),
                direction: Direction::parse(r.get::<&str, _>("direction"))
                    .unwrap_or(Direction::Internal),
                trunk: r.get("trunk"),
                routed_by: r.get("routed_by"),
                answered_by: r.get("answered_by"),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_listed_per_extension_newest_first() {
        let (s, _d) = crate::test_store(None).await;
        let rec = |t: i64, a: &str, b: &str, o| CallRecord {
            id: 0,
            started_at: t,
            caller: a.into(),
            caller_name: None,
            callee: b.into(),
            outcome: o,
            talk_ms: 1000,
            total_ms: 2000,
            direction: Direction::Internal,
            trunk: None,
            routed_by: None,
            answered_by: None,
        };
        s.add_call_record(&rec(10, "100", "101", Outcome::Answered))
            .await
            .unwrap();
        s.add_call_record(&rec(20, "101", "102", Outcome::Busy))
            .await
            .unwrap();
        s.add_call_record(&rec(30, "100", "102", Outcome::Voicemail))
            .await
            .unwrap();
        let of = |ext| {
            let s = s.clone();
            async move {
                s.call_records(ext, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.started_at, r.outcome))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            of(Some("101")).await,
            [(20, Outcome::Busy), (10, Outcome::Answered)]
        );
        assert_eq!(of(None).await.len(), 3);
        assert_eq!(s.call_records(Some("102"), 1).await.unwrap().len(), 1);
        // A call 103's route sent to 104's phone: listed for both, and says so.
        let routed = CallRecord {
            routed_by: Some("103".into()),
            answered_by: Some("104".into()),
            ..rec(40, "100", "103", Outcome::Answered)
        };
        s.add_call_record(&routed).await.unwrap();
        for ext in ["103", "104"] {
            let got = s.call_records(Some(ext), 10).await.unwrap();
            assert_eq!(got.len(), 1, "{ext}");
            assert_eq!(
                (got[0].routed_by.as_deref(), got[0].answered_by.as_deref()),
                (Some("103"), Some("104"))
            );
        }
        // A call to the outside keeps its direction and trunk.
        let out = CallRecord {
            direction: Direction::Outbound,
            trunk: Some("carrier".into()),
            ..rec(40, "100", "+15855550123", Outcome::Answered)
        };
        s.add_call_record(&out).await.unwrap();
        let got = s.call_records(Some("100"), 1).await.unwrap().remove(0);
        assert_eq!(
            (got.direction, got.trunk.as_deref(), got.callee.as_str()),
            (Direction::Outbound, Some("carrier"), "+15855550123")
        );
    }
}
