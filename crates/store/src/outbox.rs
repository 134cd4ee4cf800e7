//! The durable outbox: every notification (email, SMS, webhook) is a row written in the same
//! transaction as the change it reports, then delivered by the notifier with retries and back-off.
//! Rows are `pending` until delivered (`sent`) or given up (`failed`, visible and retryable by an
//! administrator). Webhook subscriptions live here too, since enqueuing reads them.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::flag;

use crate::voicemail::StoredMessage;
use crate::{unix_now, Store, StoreError};

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A message arrived (recorded, forwarded, or recovered after a crash).
    New,
    /// A new message was heard or moved out of New.
    Read,
    /// A message was deleted.
    Deleted,
    /// An outside call was refused by a toll-fraud limit (an alert to the administrators).
    OutsideLimit,
    /// A user's presence changed (webhooks only).
    PresenceChanged,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 5] = [
        Event::New,
        Event::Read,
        Event::Deleted,
        Event::OutsideLimit,
        Event::PresenceChanged,
    ];

    /// The events of messages (a webhook's default).
    pub const MESSAGES: [Event; 3] = [Event::New, Event::Read, Event::Deleted];

    /// The event's name in webhooks (`message.new`, `message.read`, `message.deleted`,
    /// `alert.outside_limit`, `presence.changed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::New => "message.new",
            Event::Read => "message.read",
            Event::Deleted => "message.deleted",
            Event::OutsideLimit => "alert.outside_limit",
            Event::PresenceChanged => "presence.changed",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Result<Event, StoreError> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s.trim())
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown event {s:?} (message.new, message.read, message.deleted, \
                     alert.outside_limit or presence.changed)"
                ))
            })
    }
}

/// How a notification is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// An email through the SMTP server; the target is the address.
    Email,
    /// A text through the SMS gateway; the target is the mobile number.
    Sms,
    /// A signed JSON POST; the target is the webhook's id.
    Webhook,
}

impl Channel {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Channel {
        match s {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            _ => Channel::Webhook,
        }
    }
}

/// One notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxItem {
    /// Id (also the delivery id sent to webhooks).
    pub id: i64,
    /// How it is delivered.
    pub channel: Channel,
    /// Email address, mobile number, or webhook id.
    pub target: String,
    /// `message.new`, `message.read`, `message.deleted`, `alert.outside_limit` or
    /// `presence.changed`.
    pub event: String,
    /// The message as it was when the event happened, or the alert (JSON).
    pub payload: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Unix seconds of the next attempt (pending rows).
    pub next_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix seconds when it was queued.
    pub created_at: i64,
    /// Unix seconds when it was sent or given up.
    pub done_at: Option<i64>,
}

impl OutboxItem {
    /// Whether this is an alert to the administrators (its payload an [`Alert`]), not a message's
    /// event.
    pub fn is_alert(&self) -> bool {
        self.event == Event::OutsideLimit.as_str()
    }

    /// The alert.
    pub fn alert(&self) -> Result<Alert, StoreError> {
        serde_json::from_str(&self.payload)
            .map_err(|e| StoreError::Invalid(format!("outbox {} payload: {e}", self.id)))
    }

    /// The name of the payload in a webhook's body: `message`, `alert` or `presence`.
    pub fn payload_name(&self) -> &'static str {
        if self.is_alert() {
            "alert"
        } else if self.event == Event::PresenceChanged.as_str() {
            "presence"
        } else {
            "message"
        }
    }

    /// The message the event is about.
    pub fn message(&self) -> Result<StoredMessage, StoreError> {
        serde_json::from_str(&self.payload)
            .map_err(|e| StoreError::Invalid(format!("outbox {} payload: {e}", self.id)))
    }
}

fn row_to_item(r: &AnyRow) -> OutboxItem {
    OutboxItem {
        id: r.get("id"),
        channel: Channel::parse(&r.get::<String, _>("channel")),
        target: r.get("target"),
        event: r.get("event"),
        payload: r.get("payload"),
        state: r.get("state"),
        attempts: r.get("attempts"),
        next_at: r.get("next_at"),
        last_error: r.get("last_error"),
        created_at: r.get("created_at"),
        done_at: r.get("done_at"),
    }
}

/// An alert to the administrators: an outside call a toll-fraud limit refused (the first of that
/// limit in the hour; the audit log has every one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// The calling extension.
    pub caller: String,
    /// Where its call came from.
    pub source: String,
    /// The number dialled.
    pub number: String,
    /// The limit (`user.hourly`, `system.simultaneous`...).
    pub limit: String,
    /// What the caller was told.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
}

impl Alert {
    /// A one-line subject.
    pub fn subject(&self) -> String {
        format!("Parley: outside calls of {} refused", self.caller).replace(['\r', '\n'], " ")
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        format!(
            "An outside call was refused by a toll-fraud limit.\n\n\
             Extension: {}\nFrom:      {}\nNumber:    {}\nLimit:     {} ({})\n\n\
             Further refusals of this limit in the next hour are in the audit log (parley audit) \
             without another alert. If these calls are not the user's, change the account's \
             password and check its phones.\n",
            self.caller, self.source, self.number, self.reason, self.limit
        )
    }
}

/// A user's presence changed: the payload of `presence.changed`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresenceChange {
    /// The user.
    pub extension: String,
    /// The presence now (`in-office`, `away`...).
    pub presence: String,
    /// Its label (`In Office`, `Away`...).
    pub label: String,
    /// The presence before.
    pub previous: String,
    /// Unix seconds.
    pub at: i64,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key signing each delivery (shown once, when created).
    #[serde(skip)]
    pub secret: String,
    /// Event names it receives.
    pub events: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
}

fn row_to_webhook(r: &AnyRow) -> Webhook {
    Webhook {
        id: r.get("id"),
        url: r.get("url"),
        secret: r.get("secret"),
        events: r
            .get::<String, _>("events")
            .split(',')
            .map(str::to_string)
            .collect(),
        created_at: r.get("created_at"),
    }
}

async fn insert(
    tx: &mut AnyConnection,
    channel: Channel,
    target: &str,
    event: Event,
    payload: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (channel, target, event, payload, next_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(channel.as_str())
    .bind(target)
    .bind(event.as_str())
    .bind(payload)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queue the notifications an event on message `m` causes, inside the caller's transaction: email
/// and SMS for a new message when the mailbox asks for them (SMS only for accounts allowed to send
/// it), and every webhook subscribed to the event. Returns how many rows were queued.
pub(crate) async fn enqueue(
    tx: &mut AnyConnection,
    event: Event,
    m: &StoredMessage,
) -> Result<usize, StoreError> {
    let payload = serde_json::to_string(m)
        .map_err(|e| StoreError::Invalid(format!("message {}: {e}", m.id)))?;
    let now = unix_now();
    let mut n = 0;
    if event == Event::New {
        let row = sqlx::query(
            "SELECT u.email, u.mobile, u.privileges, COALESCE(b.forward_email, FALSE) AS forward_email,
                    COALESCE(b.send_sms, FALSE) AS send_sms
             FROM users u LEFT JOIN mailboxes b ON b.extension = u.extension WHERE u.extension = $1",
        )
        .bind(&m.mailbox)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            let email: Option<String> = r.get("email");
            if let (true, Some(addr)) = (flag(&r, "forward_email"), email) {
                insert(tx, Channel::Email, &addr, event, &payload, now).await?;
                n += 1;
            }
            let privs = crate::users::split_privileges(&r.get::<String, _>("privileges"));
            let may_sms = privs
                .iter()
                .any(|p| matches!(p, crate::Privilege::Sms | crate::Privilege::Admin));
            let mobile: Option<String> = r.get("mobile");
            if let (true, true, Some(number)) = (flag(&r, "send_sms"), may_sms, mobile) {
                insert(tx, Channel::Sms, &number, event, &payload, now).await?;
                n += 1;
            }
        }
    }
    Ok(n + queue_webhooks(tx, event, &payload, now).await?)
}

/// Queue `event` for every webhook subscribed to it; how many.
pub(crate) async fn queue_webhooks(
    tx: &mut AnyConnection,
    event: Event,
    payload: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let hooks = sqlx::query("SELECT id, events FROM webhooks")
        .fetch_all(&mut *tx)
        .await?;
    let mut n = 0;
    for h in hooks {
        let events: String = h.get("events");
        if events.split(',').any(|e| e == event.as_str()) {
            let id: i64 = h.get("id");
            insert(tx, Channel::Webhook, &id.to_string(), event, payload, now).await?;
            n += 1;
        }
    }
    Ok(n)
}

impl Store {
    /// An outside call refused by a toll-fraud limit: its audit entry (when `r.audit`) and, when
    /// `r.alert`, an alert for every administrator with an email address and every webhook
    /// subscribed to `alert.outside_limit`, in one transaction. Returns how many alerts were queued.
    pub async fn outside_limit_refused(
        &self,
        r: &parley_core::switch::LimitRefusal,
        at: i64,
    ) -> Result<usize, StoreError> {
        use parley_core::text::escape_controls as safe;
        let mut tx = self.pool.begin().await?;
        if r.audit {
            sqlx::query("INSERT INTO audit_log (at, actor, source, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(at)
                .bind(safe(&r.caller))
                .bind(r.source.to_string())
                .bind("outside.refused")
                .bind(safe(&r.number))
                .bind(format!("{}: {}", r.limit, r.reason))
                .execute(&mut *tx)
                .await?;
        }
        let mut n = 0;
        if r.alert {
            let alert = Alert {
                caller: safe(&r.caller),
                source: r.source.to_string(),
                number: safe(&r.number),
                limit: r.limit.to_string(),
                reason: r.reason.clone(),
                at,
            };
            let payload = serde_json::to_string(&alert)
                .map_err(|e| StoreError::Invalid(format!("alert: {e}")))?;
            let event = Event::OutsideLimit;
            let admins = sqlx::query("SELECT email, privileges FROM users WHERE email IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
            for a in admins {
                let privs = crate::users::split_privileges(&a.get::<String, _>("privileges"));
                let email: String = a.get("email");
                if privs.contains(&crate::Privilege::Admin) && !email.trim().is_empty() {
                    insert(&mut tx, Channel::Email, &email, event, &payload, at).await?;
                    n += 1;
                }
            }
            n += queue_webhooks(&mut tx, event, &payload, at).await?;
        }
        tx.commit().await?;
        self.outbox_queued(n);
        Ok(n)
    }

    /// Wake the notifier when rows were queued.
    pub(crate) fn outbox_queued(&self, n: usize) {
        if n > 0 {
            self.outbox_wake.notify_one();
        }
    }

    /// Wait until something is queued in this process (the notifier also polls, for rows queued or
    /// retried by another process such as the CLI).
    pub async fn outbox_changed(&self) {
        self.outbox_wake.notified().await
    }

    /// Claim up to `limit` pending rows due at `now`, oldest first, for delivery by this node: each is
    /// made not due again until `now + lease` seconds, so that no other node (nor this one) takes it
    /// while it is being delivered, and a node that dies mid-delivery only delays it. Claims are the
    /// database's (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's one writer), never a lock of ours.
    pub async fn outbox_claim(
        &self,
        now: i64,
        limit: u32,
        lease: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET next_at = $1 WHERE id IN (SELECT id FROM outbox
             WHERE state = 'pending' AND next_at <= $2 ORDER BY next_at, id LIMIT $3{})
             RETURNING *",
            self.backend.skip_locked()
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut items: Vec<OutboxItem> = rows.iter().map(row_to_item).collect();
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    /// Give claimed rows back, due at `now` (a stop cut their deliveries short).
    pub async fn outbox_release(&self, ids: &[i64], now: i64) -> Result<(), StoreError> {
        for id in ids {
            sqlx::query("UPDATE outbox SET next_at = $1 WHERE id = $2 AND state = 'pending'")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// When the next pending row is due (unix seconds), if any.
    pub async fn outbox_next_due(&self) -> Result<Option<i64>, StoreError> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(next)
    }

    /// Record a delivery.
    pub async fn outbox_sent(&self, id: i64, attempts: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = 'sent', attempts = $1, last_error = NULL, done_at = $2 WHERE id = $3",
        )
        .bind(attempts)
        .bind(unix_now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Record a failed attempt: try again at `next_at`, or give up (`None`).
    pub async fn outbox_attempt_failed(
        &self,
        id: i64,
        attempts: i64,
        error: &str,
        next_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let q = match next_at {
            Some(at) => sqlx::query(
                "UPDATE outbox SET attempts = $1, last_error = $2, next_at = $3 WHERE id = $4 AND state = 'pending'",
            )
            .bind(attempts)
            .bind(error)
            .bind(at)
            .bind(id),
            None => sqlx::query(
                "UPDATE outbox SET state = 'failed', attempts = $1, last_error = $2, done_at = $3 WHERE id = $4 AND state = 'pending'",
            )
            .bind(attempts)
            .bind(error)
            .bind(unix_now())
            .bind(id),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Outbox rows, newest first, optionally of one state.
    pub async fn outbox_list(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if let Some(s) = state {
            if !["pending", "sent", "failed"].contains(&s) {
                return Err(StoreError::Invalid(format!(
                    "unknown state {s:?} (pending, sent or failed)"
                )));
            }
        }
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(state)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_to_item).collect())
    }

    /// Put failed rows back in the queue, due now: one (`Some(id)`) or all. Returns how many.
    pub async fn outbox_retry(&self, id: Option<i64>) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_at = $1, done_at = NULL
             WHERE state = 'failed' AND ($2 IS NULL OR id = $2)",
        )
        .bind(unix_now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.outbox_queued(r.rows_affected() as usize);
        Ok(r.rows_affected())
    }

    /// Forget sent rows older than `before` (unix seconds). Returns how many.
    pub async fn outbox_prune(&self, before: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM outbox WHERE state = 'sent' AND done_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Register a webhook for `events`; without a `secret`, a random one (128 bits, hex) is made.
    /// Returns its id and the secret (to show once).
    pub async fn add_webhook(
        &self,
        url: &str,
        secret: Option<&str>,
        events: &[Event],
    ) -> Result<(i64, String), StoreError> {
        let secret = match secret {
            Some(s) => s.to_string(),
            None => rand::random::<[u8; 16]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        let u = url.trim();
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 2000 {
            return Err(StoreError::Invalid(format!(
                "a webhook URL must start with http:// or https://, got {url:?}"
            )));
        }
        if events.is_empty() {
            return Err(StoreError::Invalid(
                "a webhook needs at least one event".into(),
            ));
        }
        if secret.len() < 16 {
            return Err(StoreError::Invalid(
                "a webhook secret must be at least 16 characters".into(),
            ));
        }
        let mut names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        names.sort();
        names.dedup();
        let id = sqlx::query_scalar(
            "INSERT INTO webhooks (url, secret, events, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(u)
        .bind(&secret)
        .bind(names.join(","))
        .bind(unix_now())
        .fetch_one(&self.pool)
        .await?;
        Ok((id, secret))
    }

    /// Every webhook.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let rows = sqlx::query("SELECT * FROM webhooks ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_to_webhook).collect())
    }

    /// One webhook.
    pub async fn webhook(&self, id: i64) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query("SELECT * FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_webhook))
    }

    /// Remove a webhook; its undelivered events fail when their turn comes. False if unknown.
    pub async fn delete_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MailboxSettings, Privilege, UserChanges};

    async fn store() -> (Store, tempfile::TempDir) {
        crate::test_store(Some("bob@example.com")).await
    }

    async fn deposit(s: &Store) -> i64 {
        let id = s
            .start_message("101", Some("100"), Some("Alice"), 1000)
            .await
            .unwrap();
        s.finish_message(id, 4200, "new").await.unwrap();
        id
    }

    #[tokio::test]
    async fn nothing_is_queued_unless_asked_for() {
        let (s, _d) = store().await;
        deposit(&s).await;
        assert!(s.outbox_list(None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_new_message_queues_email_sms_and_webhooks_as_configured() {
        let (s, _d) = store().await;
        let settings = MailboxSettings {
            forward_email: true,
            send_sms: true,
            ..Default::default()
        };
        s.set_mailbox_settings("101", settings).await.unwrap();
        s.update_user(
            "101",
            &UserChanges {
                mobile: Some("+1 (555) 010-0101".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (hook, _) = s
            .add_webhook(
                "http://127.0.0.1:9/h",
                Some("0123456789abcdef"),
                &[Event::New, Event::Deleted],
            )
            .await
            .unwrap();
        let id = deposit(&s).await;
        // No SMS: the account may not send it.
        let list = s.outbox_list(None, 10).await.unwrap();
        let mut got: Vec<(Channel, String)> =
            list.iter().map(|i| (i.channel, i.target.clone())).collect();
        got.sort_by_key(|(c, _)| c.as_str());
        assert_eq!(
            got,
            [
                (Channel::Email, "bob@example.com".to_string()),
                (Channel::Webhook, hook.to_string())
            ]
        );
        assert_eq!(list[0].message().unwrap().id, id);
        s.update_user(
            "101",
            &UserChanges {
                privileges: Some(vec![Privilege::Sms]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        deposit(&s).await;
        let sms: Vec<_> = s
            .outbox_list(None, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.channel == Channel::Sms)
            .collect();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].target, "+15550100101");
        // Read is not subscribed; delete is.
        s.move_message(id, "old").await.unwrap();
        s.delete_message(id).await.unwrap();
        let events: Vec<String> = s
            .outbox_list(None, 20)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.channel == Channel::Webhook)
            .map(|i| i.event)
            .collect();
        assert_eq!(events, ["message.deleted", "message.new", "message.new"]);
    }

    #[tokio::test]
    async fn read_is_leaving_new_and_a_discarded_take_reports_nothing() {
        let (s, _d) = store().await;
        s.add_webhook(
            "https://hooks.example.com/x",
            Some("0123456789abcdef"),
            &Event::ALL,
        )
        .await
        .unwrap();
        let id = deposit(&s).await;
        s.move_message(id, "work").await.unwrap();
        s.move_message(id, "old").await.unwrap();
        let take = s.start_message("101", None, None, 5).await.unwrap();
        s.delete_message(take).await.unwrap();
        let events: Vec<String> = s
            .outbox_list(None, 20)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.event)
            .collect();
        assert_eq!(events, ["message.read", "message.new"]);
    }

    #[tokio::test]
    async fn attempts_back_off_then_fail_and_an_administrator_retries() {
        let (s, _d) = store().await;
        s.add_webhook(
            "http://127.0.0.1:9/h",
            Some("0123456789abcdef"),
            &[Event::New],
        )
        .await
        .unwrap();
        deposit(&s).await;
        let now = unix_now();
        let due = s.outbox_claim(now, 10, 300).await.unwrap();
        assert_eq!(due.len(), 1);
        let id = due[0].id;
        // Claimed: not due again until the lease ends, even at the same time.
        assert!(s.outbox_claim(now, 10, 300).await.unwrap().is_empty());
        assert_eq!(s.outbox_next_due().await.unwrap(), Some(now + 300));
        s.outbox_attempt_failed(id, 1, "connection refused", Some(now + 60))
            .await
            .unwrap();
        assert!(s.outbox_claim(now, 10, 300).await.unwrap().is_empty());
        assert_eq!(s.outbox_next_due().await.unwrap(), Some(now + 60));
        assert_eq!(s.outbox_claim(now + 60, 10, 300).await.unwrap().len(), 1);
        s.outbox_attempt_failed(id, 2, "HTTP 410 Gone", None)
            .await
            .unwrap();
        let failed = s.outbox_list(Some("failed"), 10).await.unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].last_error.as_deref(), Some("HTTP 410 Gone"));
        assert_eq!(s.outbox_next_due().await.unwrap(), None);
        assert_eq!(s.outbox_retry(None).await.unwrap(), 1);
        let due = s.outbox_claim(unix_now(), 10, 300).await.unwrap();
        assert_eq!((due[0].id, due[0].attempts), (id, 0));
        s.outbox_sent(id, 1).await.unwrap();
        assert_eq!(s.outbox_list(Some("sent"), 10).await.unwrap().len(), 1);
        assert!(s.outbox_list(Some("lost"), 10).await.is_err());
    }

    #[tokio::test]
    async fn two_nodes_claiming_at_once_never_take_the_same_row() {
        let (s, d) = store().await;
        s.add_webhook(
            "http://127.0.0.1:9/h",
            Some("0123456789abcdef"),
            &[Event::New],
        )
        .await
        .unwrap();
        for _ in 0..40 {
            deposit(&s).await;
        }
        let other = Store::connect(s.location(), d.path()).await.unwrap();
        let now = unix_now();
        let claim = |st: Store| async move {
            let mut got = Vec::new();
            loop {
                let batch = st.outbox_claim(now, 3, 300).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|i| i.id));
            }
        };
        let (a, b) = tokio::join!(
            tokio::spawn(claim(s.clone())),
            tokio::spawn(claim(other.clone()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), a.len() + b.len(), "a row was claimed twice");
        assert_eq!(all.len(), 40);
    }

    #[tokio::test]
    async fn webhooks_are_validated() {
        let (s, _d) = store().await;
        assert!(s
            .add_webhook("ftp://x", Some("0123456789abcdef"), &[Event::New])
            .await
            .is_err());
        assert!(s
            .add_webhook("http://x", Some("short"), &[Event::New])
            .await
            .is_err());
        assert!(s
            .add_webhook("http://x", Some("0123456789abcdef"), &[])
            .await
            .is_err());
        let (id, _) = s
            .add_webhook(
                "http://x",
                Some("0123456789abcdef"),
                &[Event::Read, Event::Read],
            )
            .await
            .unwrap();
        let (_, made) = s
            .add_webhook("http://x", None, &[Event::New])
            .await
            .unwrap();
        assert_eq!(made.len(), 32);
        assert_eq!(
            s.webhook(id).await.unwrap().unwrap().events,
            ["message.read"]
        );
        assert!(s.delete_webhook(id).await.unwrap());
        assert!(!s.delete_webhook(id).await.unwrap());
        assert!(Event::parse("message.lost").is_err());
    }
}
