//! Parley's notifications: voicemail to email with the audio attached ([`email`]), a text through an
//! HTTP SMS gateway and signed JSON webhooks ([`http`]). Nothing here is sent from a call's path: the
//! store writes an outbox row in the same transaction as the change it reports, and the [`Notifier`]
//! task delivers due rows with retries and exponential back-off. Rows survive restarts; permanent
//! failures stay in the outbox for an administrator to see and retry.
#![warn(missing_docs)]

pub mod email;
pub mod http;
pub mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::TimeZone;
use parley_store::{unix_now, AudioKey, Channel, OutboxItem, Store, StoredMessage};
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use template::{Filter, Template, TemplateError, Vars};

/// The variables every message notification template may use.
pub const MESSAGE_VARS: &[&str] = &[
    "caller",
    "caller_name",
    "caller_number",
    "mailbox",
    "mailbox_name",
    "date",
    "time",
    "duration",
    "duration_secs",
    "folder",
    "message_id",
    "link",
    "forwarded_by",
    "note",
];

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// STARTTLS, required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption (port 25 by default); only for a relay on the same host or network.
    None,
}

/// The SMTP server (`[smtp]` in the configuration). Without it, emails fail with a clear reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server name (also checked against its TLS certificate).
    pub host: String,
    /// Port; default by `security`: 587, 465 or 25.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub security: Security,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// Give up one attempt after this many seconds.
    pub timeout_secs: u64,
    /// A CA certificate (PEM) trusted besides the public roots, for a server with a private
    /// certificate.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: None,
            security: Security::Starttls,
            username: None,
            password: None,
            timeout_secs: 30,
            ca_file: None,
        }
    }
}

/// What voicemail-to-email attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Attach {
    /// The message as stored: WAV, 8 kHz 16-bit mono PCM.
    #[default]
    Wav,
    /// WAV in G.711 µ-law: half the size, plays everywhere.
    Ulaw,
    /// No attachment (the email links to the portal).
    None,
}

/// Voicemail-to-email texts (`[email]`): templates over [`MESSAGE_VARS`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// Sender, e.g. `Parley Voicemail <voicemail@example.com>`.
    pub from: String,
    /// Subject template.
    pub subject: String,
    /// Plain-text body template.
    pub text: String,
    /// HTML body template (values are HTML-escaped unless a filter says otherwise).
    pub html: String,
    /// `wav` (default), `ulaw` or `none`.
    pub attach: Attach,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            from: "Parley Voicemail <voicemail@localhost>".into(),
            subject: "New voicemail from {{caller}} ({{duration}})".into(),
            text: "{{mailbox_name}}, you have a new voicemail message.\n\n\
                   From:     {{caller}}\n\
                   Received: {{date}} at {{time}}\n\
                   Length:   {{duration}}\n\
                   Mailbox:  {{mailbox}}\n\n\
                   The message is attached. Listen to it and manage your messages at:\n{{link}}\n"
                .into(),
            html: "<p>{{mailbox_name}}, you have a new voicemail message.</p>\n\
                   <table>\n\
                   <tr><th align=\"left\">From</th><td>{{caller}}</td></tr>\n\
                   <tr><th align=\"left\">Received</th><td>{{date}} at {{time}}</td></tr>\n\
                   <tr><th align=\"left\">Length</th><td>{{duration}}</td></tr>\n\
                   <tr><th align=\"left\">Mailbox</th><td>{{mailbox}}</td></tr>\n\
                   </table>\n\
                   <p>The message is attached. <a href=\"{{link}}\">Listen to it and manage your messages</a>.</p>\n"
                .into(),
            attach: Attach::Wav,
        }
    }
}

/// The HTTP SMS gateway (`[sms]`): a generic request shape that fits common providers. `url`,
/// header values and `body` are templates over [`MESSAGE_VARS`] plus `to` (the mobile number) and
/// `text` (the rendered `text` template).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// Where to send (values are percent-encoded unless a filter says otherwise).
    pub url: String,
    /// HTTP method (POST by default).
    pub method: String,
    /// Content type of `body`; values in a JSON body are JSON-escaped and in a form body
    /// percent-encoded, unless a filter says otherwise.
    pub content_type: String,
    /// Extra headers, e.g. `Authorization`.
    pub headers: BTreeMap<String, String>,
    /// Request body template (empty: no body).
    pub body: String,
    /// The SMS text template.
    pub text: String,
    /// Give up one attempt after this many seconds.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            url: String::new(),
            method: "POST".into(),
            content_type: "application/json".into(),
            headers: BTreeMap::new(),
            body: "{\"to\": \"{{to}}\", \"text\": \"{{text}}\"}".into(),
            text: "New voicemail for {{mailbox}} from {{caller}}, {{duration}}, {{date}} {{time}}."
                .into(),
            timeout_secs: 15,
        }
    }
}

/// Retry policy of the outbox (`[outbox]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Wait before the second attempt, in seconds; doubles with each failure.
    pub retry_base_secs: u64,
    /// Longest wait between attempts, in seconds.
    pub retry_max_secs: u64,
    /// Attempts before a notification is marked failed.
    pub max_attempts: u32,
    /// Delivered notifications are kept this many days (then forgotten).
    pub keep_sent_days: u64,
    /// Webhook request timeout, in seconds.
    pub webhook_timeout_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            retry_base_secs: 30,
            retry_max_secs: 3600,
            max_attempts: 12,
            keep_sent_days: 7,
            webhook_timeout_secs: 10,
        }
    }
}

impl OutboxConfig {
    /// Wait after the `attempts`-th failed attempt: base × 2^(attempts−1), at most the maximum.
    pub fn retry_delay(&self, attempts: u32) -> Duration {
        let base = self.retry_base_secs.max(1);
        let secs = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
        Duration::from_secs(secs.min(self.retry_max_secs.max(base)))
    }
}

/// Everything the notifier needs.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    /// SMTP server; `None` disables email (queued emails fail with that reason).
    pub smtp: Option<SmtpConfig>,
    /// Email texts and attachment.
    pub email: EmailConfig,
    /// SMS gateway; `None` disables SMS.
    pub sms: Option<SmsConfig>,
    /// Retry policy.
    pub outbox: OutboxConfig,
    /// The portal's address, for links in notifications (e.g. `http://pbx.example.com:8080`).
    pub portal_url: String,
}

/// A configuration the notifier cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A template does not parse.
    #[error("{what}: {err}")]
    Template {
        /// Which template.
        what: &'static str,
        /// Why.
        err: TemplateError,
    },
    /// Other invalid settings.
    #[error("{0}")]
    Invalid(String),
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Retrying cannot help (refused address, removed webhook, HTTP 4xx, nothing configured).
    pub permanent: bool,
    /// What happened, for the administrator.
    pub reason: String,
}

impl Failure {
    /// A failure worth retrying.
    pub fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            permanent: false,
            reason: reason.into(),
        }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(reason: impl Into<String>) -> Failure {
        Failure {
            permanent: true,
            reason: reason.into(),
        }
    }
}

/// How many notifications are delivered at once.
const IN_FLIGHT: usize = 4;
/// The outbox is also polled this often (rows retried from the CLI, another process).
const POLL: Duration = Duration::from_secs(2);

/// Delivers the outbox.
pub struct Notifier {
    store: Store,
    outbox: OutboxConfig,
    portal_url: String,
    email: Option<email::Mailer>,
    http: http::Sender,
    /// How long a claimed row stays this node's (seconds).
    lease: i64,
}

impl Notifier {
    /// Check the configuration (templates, SMTP settings) and prepare the transports.
    pub fn new(store: Store, cfg: NotifyConfig) -> Result<Notifier, NotifyError> {
        let email = email::Mailer::new(cfg.smtp.as_ref(), &cfg.email)?;
        let http = http::Sender::new(cfg.sms.as_ref(), &cfg.outbox)?;
        // A claim outlasts the slowest delivery (an email may take twice its timeout).
        let slowest = [
            cfg.smtp.as_ref().map_or(0, |s| 2 * s.timeout_secs),
            cfg.sms.as_ref().map_or(0, |s| s.timeout_secs),
            cfg.outbox.webhook_timeout_secs,
        ];
        let lease = 60 + slowest.into_iter().max().unwrap_or(0).min(86_400) as i64;
        Ok(Notifier {
            store,
            outbox: cfg.outbox,
            portal_url: cfg.portal_url.trim_end_matches('/').to_string(),
            email,
            http,
            lease,
        })
    }

    /// Deliver due notifications until `cancel`. Each row is claimed in the database before it is
    /// delivered, so nodes sharing one database never deliver it twice; a delivery cut short by a
    /// stop is retried when its claim's lease ends (delivery is at least once).
    pub async fn run(self, cancel: CancellationToken) {
        let me = std::sync::Arc::new(self);
        let mut running: JoinSet<(OutboxItem, Result<(), Failure>)> = JoinSet::new();
        let mut in_flight: Vec<i64> = Vec::new();
        let mut pruned_at = 0;
        loop {
            let now = unix_now();
            if running.len() < IN_FLIGHT {
                let room = (IN_FLIGHT - running.len()) as u32;
                match me.store.outbox_claim(now, room, me.lease).await {
                    Ok(due) => {
                        for item in due {
                            let n = me.clone();
                            in_flight.push(item.id);
                            running.spawn(async move {
                                let r = n.deliver(&item).await;
                                (item, r)
                            });
                        }
                    }
                    Err(e) => warn!(error = %e, "cannot read the outbox"),
                }
            }
            if now - pruned_at > 3600 {
                pruned_at = now;
                let keep = (me.outbox.keep_sent_days.max(1) * 86_400) as i64;
                if let Ok(n) = me.store.outbox_prune(now - keep).await {
                    if n > 0 {
                        debug!(rows = n, "forgot delivered notifications");
                    }
                }
            }
            let wait = match me.store.outbox_next_due().await {
                Ok(Some(at)) if running.len() < IN_FLIGHT => {
                    Duration::from_secs(at.saturating_sub(unix_now()).max(0) as u64).min(POLL)
                }
                _ => POLL,
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((item, result)) = done {
                        in_flight.retain(|id| *id != item.id);
                        me.record(&item, result).await;
                    }
                }
                _ = me.store.outbox_changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Deliveries that ended meanwhile are recorded (not sent again by the next claimer) ...
        while let Some(done) = running.try_join_next() {
            if let Ok((item, result)) = done {
                in_flight.retain(|id| *id != item.id);
                me.record(&item, result).await;
            }
        }
        running.abort_all();
        // ... and those cut short by this stop are due again at once (for the next start, or another
        // node), not when their claims would have ended.
        if let Err(e) = me.store.outbox_release(&in_flight, unix_now()).await {
            warn!(error = %e, "cannot release the notifications being delivered");
        }
    }

    async fn record(&self, item: &OutboxItem, result: Result<(), Failure>) {
        let attempts = item.attempts + 1;
        let what = item.channel.as_str();
        let res = match result {
            Ok(()) => {
                info!(outbox = item.id, channel = what, event = %item.event, attempts, "notification delivered");
                self.store.outbox_sent(item.id, attempts).await
            }
            Err(f) => {
                let give_up = f.permanent || attempts >= i64::from(self.outbox.max_attempts.max(1));
                let next = (!give_up).then(|| {
                    unix_now() + self.outbox.retry_delay(attempts as u32).as_secs() as i64
                });
                match next {
                    Some(at) => {
                        warn!(outbox = item.id, channel = what, attempts, retry_in = at - unix_now(), reason = %f.reason, "notification not delivered; will retry")
                    }
                    None => {
                        warn!(outbox = item.id, channel = what, attempts, reason = %f.reason, "notification failed for good (see `parley outbox list --failed`)")
                    }
                }
                self.store
                    .outbox_attempt_failed(item.id, attempts, &f.reason, next)
                    .await
            }
        };
        if let Err(e) = res {
            warn!(outbox = item.id, error = %e, "cannot record a delivery attempt");
        }
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<(), Failure> {
        match item.channel {
            Channel::Webhook => {
                let id: i64 = item.target.parse().unwrap_or(-1);
                let hook = self
                    .store
                    .webhook(id)
                    .await
                    .map_err(|e| Failure::transient(e.to_string()))?
                    .ok_or_else(|| Failure::permanent(format!("webhook {id} was removed")))?;
                self.http.webhook(&hook, item).await
            }
            Channel::Email if item.is_alert() => {
                let alert = item
                    .alert()
                    .map_err(|e| Failure::permanent(e.to_string()))?;
                let Some(mailer) = &self.email else {
                    return Err(Failure::permanent(
                        "no SMTP server is configured ([smtp] host)",
                    ));
                };
                mailer
                    .send_text(&item.target, &alert.subject(), &alert.text())
                    .await
            }
            Channel::Sms if item.is_alert() => {
                Err(Failure::permanent("alerts are not sent by SMS"))
            }
            Channel::Email | Channel::Sms if item.payload_name() != "message" => Err(
                Failure::permanent(format!("{} is only sent to webhooks", item.event)),
            ),
            Channel::Email | Channel::Sms => {
                let m = item
                    .message()
                    .map_err(|e| Failure::permanent(e.to_string()))?;
                let vars = self.vars(&m).await;
                if item.channel == Channel::Email {
                    let Some(mailer) = &self.email else {
                        return Err(Failure::permanent(
                            "no SMTP server is configured ([smtp] host)",
                        ));
                    };
                    mailer
                        .send(
                            &item.target,
                            &vars,
                            match mailer.attaches() {
                                true => {
                                    self.store
                                        .audio_wav(&AudioKey::message(&m.mailbox, m.id))
                                        .await
                                }
                                false => None,
                            },
                        )
                        .await
                } else {
                    self.http.sms(&item.target, &vars).await
                }
            }
        }
    }

    /// The template variables of a message.
    async fn vars(&self, m: &StoredMessage) -> Vars {
        let mailbox_name = match self.store.get_user(&m.mailbox).await {
            Ok(Some(u)) => u.name,
            _ => m.mailbox.clone(),
        };
        message_vars(m, &mailbox_name, &self.portal_url)
    }
}

/// The template variables of message `m` in the server's time zone.
pub fn message_vars(m: &StoredMessage, mailbox_name: &str, portal_url: &str) -> Vars {
    let name = m.caller_name.clone().unwrap_or_default();
    let number = m.caller.clone().unwrap_or_default();
    let caller = match (name.is_empty(), number.is_empty()) {
        (false, false) if name != number => format!("{name} ({number})"),
        (_, false) => number.clone(),
        (false, true) => name.clone(),
        (true, true) => "an unknown caller".into(),
    };
    let at = chrono::Local
        .timestamp_opt(m.received_at, 0)
        .single()
        .unwrap_or_else(|| chrono::Local.timestamp_opt(0, 0).unwrap());
    let secs = (m.duration_ms + 500) / 1000;
    let mut v = Vars::new();
    v.insert("caller", caller);
    v.insert("caller_name", name);
    v.insert("caller_number", number);
    v.insert("mailbox", m.mailbox.clone());
    v.insert("mailbox_name", mailbox_name.to_string());
    v.insert("date", at.format("%A %-d %B %Y").to_string());
    v.insert("time", at.format("%H:%M").to_string());
    v.insert("duration", format!("{}:{:02}", secs / 60, secs % 60));
    v.insert("duration_secs", secs.to_string());
    v.insert("folder", m.folder.clone());
    v.insert("message_id", m.id.to_string());
    v.insert("link", format!("{portal_url}/messages/{}", m.id));
    v.insert("forwarded_by", m.forwarded_by.clone().unwrap_or_default());
    v.insert("note", m.note.clone().unwrap_or_default());
    v
}

/// Start delivering the outbox in the background.
pub fn spawn(
    store: Store,
    cfg: NotifyConfig,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, NotifyError> {
    let n = Notifier::new(store, cfg)?;
    Ok(tokio::spawn(n.run(cancel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_maximum() {
        let o = OutboxConfig {
            retry_base_secs: 30,
            retry_max_secs: 3600,
            ..Default::default()
        };
        let d: Vec<u64> = (1..=9).map(|n| o.retry_delay(n).as_secs()).collect();
        assert_eq!(d, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(o.retry_delay(200).as_secs(), 3600);
    }

    #[test]
    fn message_variables_name_the_caller_and_format_length_and_link() {
        let m = StoredMessage {
            id: 7,
            mailbox: "101".into(),
            folder: "new".into(),
            caller: Some("100".into()),
            caller_name: Some("Alice".into()),
            received_at: 1_800_000_000,
            duration_ms: 61_600,
            forwarded_by: None,
            note: None,
        };
        let v = message_vars(&m, "Bob", "http://pbx:8080");
        assert_eq!(v["caller"], "Alice (100)");
        assert_eq!(v["duration"], "1:02");
        assert_eq!(v["duration_secs"], "62");
        assert_eq!(v["link"], "http://pbx:8080/messages/7");
        let mut anon = m.clone();
        anon.caller = None;
        anon.caller_name = None;
        assert_eq!(
            message_vars(&anon, "Bob", "")["caller"],
            "an unknown caller"
        );
        for k in MESSAGE_VARS {
            assert!(v.contains_key(k), "{k}");
        }
        let mut fwd = m.clone();
        fwd.forwarded_by = Some("102".into());
        fwd.note = Some("Please call back".into());
        let v = message_vars(&fwd, "Bob", "");
        assert_eq!(
            (v["forwarded_by"].as_str(), v["note"].as_str()),
            ("102", "Please call back")
        );
        assert_eq!(message_vars(&m, "Bob", "")["note"], "");
    }
}
