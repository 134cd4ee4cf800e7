//! Message-waiting (RFC 3842): `message-summary` subscriptions (digest-authenticated, refreshed,
//! expiring), NOTIFY to subscribers whenever a mailbox's counts change, and unsolicited NOTIFY to the
//! registered phones that do not subscribe (also when they register). "MWI calibrate" forces the lamp.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_core::call::build::{self, Dialog};
use parley_core::sip::{Method, Request, Response};
use parley_core::target::Target;
use parley_store::Counts;
use tracing::{debug, info, warn};

use super::{now, tag, Auth, ClientRoute, Server};
use crate::adapter::TxId;

/// One message-summary subscription (Parley is the notifier).
#[derive(Debug)]
pub(super) struct Subscription {
    mailbox: String,
    dialog: Dialog,
    target: Target,
    expires_at: Instant,
}

/// All subscriptions and the counts last announced per mailbox.
#[derive(Debug, Default)]
pub(super) struct Mwi {
    subs: HashMap<String, Subscription>,
    last: HashMap<String, Counts>,
}

impl Mwi {
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.subs.values().map(|s| s.expires_at).min()
    }

    pub(super) fn expire(&mut self, t: Instant) {
        self.subs.retain(|cid, s| {
            let keep = s.expires_at > t;
            if !keep {
                debug!(call_id = %cid, mailbox = %s.mailbox, "MWI subscription expired");
            }
            keep
        });
    }

    /// Drop the subscriptions of a mailbox (its account was removed).
    pub(super) fn forget_mailbox(&mut self, mailbox: &str) {
        self.subs.retain(|_, s| s.mailbox != mailbox);
        self.last.remove(mailbox);
    }

    pub(super) fn remove(&mut self, call_id: &str) {
        self.subs.remove(call_id);
    }

    /// Number of live subscriptions (status).
    pub(super) fn len(&self) -> usize {
        self.subs.len()
    }
}

const MAX_EXPIRES: u32 = 3600;
/// How long the NOTIFY answering a SUBSCRIBE waits behind the 200.
const NOTIFY_AFTER_200: Duration = Duration::from_millis(30);
const MIN_EXPIRES: u32 = 60;

fn body(mailbox: &str, host: &str, c: Counts, waiting: bool) -> Vec<u8> {
    format!(
        "Messages-Waiting: {}\r\nMessage-Account: sip:{mailbox}@{host}\r\nVoice-Message: {}/{} (0/0)\r\n",
        if waiting { "yes" } else { "no" },
        c.new,
        c.old
    )
    .into_bytes()
}

impl Server {
    /// SUBSCRIBE (new or refresh).
    pub(super) async fn handle_subscribe(&mut self, tx: TxId, req: &Request, source: Target) {
        let event = req.headers.get("Event").unwrap_or_default();
        let event_name = event.split(';').next().unwrap_or_default().trim();
        let in_dialog = req.headers.to().is_some_and(|t| t.tag().is_some());
        let Auth::Ok(user) = self.authenticate(tx, req, source, false).await else {
            return;
        };
        if !event_name.eq_ignore_ascii_case("message-summary") {
            let mut r = Response::to_request(req, 489, Some(&tag()));
            r.headers.push("Allow-Events", "message-summary");
            self.adapter.respond(tx, &r);
            return;
        }
        let mailbox = req.uri.user_base().unwrap_or_default().to_string();
        if mailbox != user {
            info!(user = %user, mailbox = %parley_core::text::Printable(&mailbox), "MWI subscription refused: not the caller's own mailbox");
            self.adapter
                .respond(tx, &Response::to_request(req, 403, Some(&tag())));
            return;
        }
        let expires = req
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(MAX_EXPIRES);
        if expires != 0 && expires < MIN_EXPIRES {
            let mut r = Response::to_request(req, 423, Some(&tag()));
            r.headers.push("Min-Expires", &MIN_EXPIRES.to_string());
            self.adapter.respond(tx, &r);
            return;
        }
        let expires = expires.min(MAX_EXPIRES);
        let call_id = req.call_id().to_string();
        let local_tag = if in_dialog {
            match self.mwi.subs.get(&call_id) {
                Some(s) => parley_core::sip::header::param(&s.dialog.local, "tag")
                    .unwrap_or_default()
                    .to_string(),
                None => {
                    self.adapter
                        .respond(tx, &Response::to_request(req, 481, None));
                    return;
                }
            }
        } else {
            tag()
        };
        if !self.mwi.subs.contains_key(&call_id) {
            let held = self
                .mwi
                .subs
                .values()
                .filter(|s| s.mailbox == mailbox)
                .count();
            if let Err(refusal) = self.config.limits.admit_subscription(held) {
                info!(mailbox = %mailbox, "MWI subscription refused: too many for this account");
                return self.refuse(tx, req, None, refusal);
            }
        }
        let mut r = Response::to_request(req, 200, Some(&local_tag));
        r.headers.push("Expires", &expires.to_string());
        r.headers.push(
            "Contact",
            &self.local_addr().contact(&mailbox, source.transport),
        );
        self.adapter.respond(tx, &r);
        let sub = self
            .mwi
            .subs
            .entry(call_id.clone())
            .or_insert_with(|| Subscription {
                mailbox: mailbox.clone(),
                dialog: Dialog::answering(req, &local_tag, source.transport),
                target: source,
                expires_at: now(),
            });
        // An ending subscription lives one more second, for its final NOTIFY.
        sub.expires_at = now() + Duration::from_secs(u64::from(expires.max(1)));
        sub.target = source;
        sub.dialog.remote_target = build::remote_target(req);
        info!(mailbox = %mailbox, expires, "MWI subscription");
        // RFC 6665 lets the NOTIFY overtake the 200, but phones (and SIPp) cope better when it follows.
        let work = self.work.clone();
        let end = expires == 0;
        tokio::spawn(async move {
            tokio::time::sleep(NOTIFY_AFTER_200).await;
            let _ = work.send(super::voicemail::Work::SubscriptionNotify { call_id, end });
        });
    }

    /// The NOTIFY answering a SUBSCRIBE: current counts, or the final one when it ended.
    pub(super) async fn subscription_notify(&mut self, call_id: &str, end: bool) {
        let Some(sub) = self.mwi.subs.get(call_id) else {
            return;
        };
        let mailbox = sub.mailbox.clone();
        let left = sub.expires_at.saturating_duration_since(now()).as_secs();
        let counts = self.counts(&mailbox).await;
        let state = if end {
            "terminated;reason=timeout".to_string()
        } else {
            format!("active;expires={left}")
        };
        self.notify_sub(call_id, counts, counts.new > 0, &state);
        if end {
            self.mwi.subs.remove(call_id);
        }
        self.publish_status();
    }

    async fn counts(&self, mailbox: &str) -> Counts {
        self.store.message_counts(mailbox).await.unwrap_or_default()
    }

    fn notify_sub(&mut self, call_id: &str, counts: Counts, waiting: bool, state: &str) {
        let local = self.local_addr();
        let host = local.host.clone();
        let branch = format!("z9hG4bK{}", tag());
        let Some(sub) = self.mwi.subs.get_mut(call_id) else {
            return;
        };
        let mut req = build::in_dialog(
            &mut sub.dialog,
            Method::Notify,
            &local,
            &sub.mailbox,
            &branch,
            None,
        );
        req.headers.push(
            "Contact",
            &local.contact(&sub.mailbox, sub.target.transport),
        );
        req.headers.push("Event", "message-summary");
        req.headers.push("Subscription-State", state);
        req.headers
            .push("Content-Type", "application/simple-message-summary");
        req.body = body(&sub.mailbox, &host, counts, waiting);
        let target = sub.target;
        let ctx = self.adapter.send_request(&req, target);
        self.client_txs.insert(
            ctx,
            ClientRoute::Notify {
                call_id: call_id.to_string(),
            },
        );
    }

    /// Unsolicited NOTIFY (no subscription) to one registered contact.
    fn notify_contact(
        &mut self,
        mailbox: &str,
        uri: &parley_core::sip::SipUri,
        target: Target,
        counts: Counts,
        waiting: bool,
    ) {
        let local = self.local_addr();
        let mut dialog = Dialog {
            call_id: format!("{}@parley", tag()),
            local: format!("<sip:{mailbox}@{}>;tag={}", local.host, tag()),
            remote: format!("<sip:{mailbox}@{}>", local.host),
            remote_target: uri.clone(),
            route: Vec::new(),
            local_cseq: 0,
            transport: target.transport,
        };
        let branch = format!("z9hG4bK{}", tag());
        let mut req = build::in_dialog(&mut dialog, Method::Notify, &local, mailbox, &branch, None);
        req.headers
            .push("Contact", &local.contact(mailbox, target.transport));
        req.headers.push("Event", "message-summary");
        req.headers.push("Subscription-State", "active");
        req.headers
            .push("Content-Type", "application/simple-message-summary");
        req.body = body(mailbox, &local.host, counts, waiting);
        let ctx = self.adapter.send_request(&req, target);
        self.client_txs.insert(ctx, ClientRoute::Ignore);
    }

    /// Tell every phone of `mailbox` its counts: subscribers in their dialogs, the other registered
    /// contacts unsolicited. `force` sets the lamp regardless of the counts (MWI calibrate).
    pub(super) async fn mwi_send(&mut self, mailbox: &str, force: Option<bool>) -> usize {
        let counts = self.counts(mailbox).await;
        self.mwi_send_to(mailbox, counts, force, true)
    }

    /// After a registration: only the registered contacts that do not subscribe learn the counts.
    pub(super) fn mwi_on_register(&mut self, mailbox: &str, counts: Counts) -> usize {
        self.mwi_send_to(mailbox, counts, None, false)
    }

    fn mwi_send_to(
        &mut self,
        mailbox: &str,
        counts: Counts,
        force: Option<bool>,
        subscribers: bool,
    ) -> usize {
        let waiting = force.unwrap_or(counts.new > 0);
        let t = now();
        let subs: Vec<(String, Target, Instant)> = self
            .mwi
            .subs
            .iter()
            .filter(|(_, s)| s.mailbox == mailbox)
            .map(|(cid, s)| (cid.clone(), s.target, s.expires_at))
            .collect();
        let mut sent = 0;
        for (cid, _, exp) in subs.iter().filter(|_| subscribers) {
            let left = exp.saturating_duration_since(t).as_secs();
            self.notify_sub(cid, counts, waiting, &format!("active;expires={left}"));
            sent += 1;
        }
        let contacts = self.registrar.lookup(t, mailbox);
        for b in contacts {
            if subs.iter().any(|(_, target, _)| *target == b.target) {
                continue;
            }
            self.notify_contact(mailbox, &b.uri, b.target, counts, waiting);
            sent += 1;
        }
        self.mwi.last.insert(mailbox.to_string(), counts);
        sent
    }

    /// After a change to a mailbox: notify if its counts changed since the last announcement.
    pub(super) async fn mwi_update(&mut self, mailbox: &str) {
        let counts = self.counts(mailbox).await;
        if self.mwi.last.get(mailbox) == Some(&counts) {
            return;
        }
        let n = self.mwi_send_to(mailbox, counts, None, true);
        info!(mailbox = %mailbox, new = counts.new, old = counts.old, phones = n, "message-waiting updated");
    }

    /// A NOTIFY of a subscription failed: a 481 (or any 4xx-6xx) ends the subscription.
    pub(super) fn notify_failed(&mut self, call_id: &str, status: u16) {
        if status >= 300 {
            warn!(status, "NOTIFY refused; subscription ended");
            self.mwi.remove(call_id);
        }
    }
}
