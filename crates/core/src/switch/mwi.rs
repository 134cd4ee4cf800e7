//! Message-waiting (RFC 3842), the notifier's side: `message-summary` subscriptions (authenticated,
//! only to one's own mailbox, refreshed, expiring, bounded per account), the NOTIFY that follows each
//! subscription's 200, NOTIFY to subscribers whenever a mailbox's counts change, and unsolicited NOTIFY
//! to the registered phones that do not subscribe (also when they register). "MWI calibrate" forces
//! the lamp. Counts come from the store as [`Switch::handle_counts`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{ClientRoute, Command, CountFor, Switch};
use crate::call::build::{self, Dialog};
use crate::call::TxId;
use crate::sip::StatusCode;
use crate::sip::{Method, Request, Response, SipUri};
use crate::target::Target;
use crate::text::Printable;

/// A mailbox's message counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Messages in the New folder.
    pub new: u32,
    /// All other messages.
    pub old: u32,
}

/// One message-summary subscription (Parley is the notifier).
#[derive(Debug)]
struct Subscription {
    mailbox: String,
    dialog: Dialog,
    target: Target,
    expires_at: Instant,
    /// The NOTIFY answering the last SUBSCRIBE is due then (`true`: the final one).
    notify_due: Option<(Instant, bool)>,
}

/// All subscriptions and the counts last announced per mailbox.
#[derive(Debug, Default)]
pub(super) struct Mwi {
    subs: BTreeMap<String, Subscription>,
    last: HashMap<String, Counts>,
}

impl Mwi {
    pub(super) fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        let expiry = self
            .subs
            .values()
            .map(|s| (s.expires_at, "MWI subscription expiry"));
        let notify = self
            .subs
            .values()
            .filter_map(|s| s.notify_due.map(|(t, _)| (t, "NOTIFY after a SUBSCRIBE")));
        expiry.chain(notify).min_by_key(|(t, _)| *t)
    }

    /// Live subscriptions.
    pub(super) fn len(&self) -> usize {
        self.subs.len()
    }
}

const MAX_EXPIRES: u32 = 3600;
const MIN_EXPIRES: u32 = 60;
/// How long the NOTIFY answering a SUBSCRIBE waits behind the 200 (RFC 6665 lets it overtake the
/// 200, but phones, and SIPp, cope better when it follows).
const NOTIFY_AFTER_200: Duration = Duration::from_millis(30);

fn body(mailbox: &str, host: &str, c: Counts, waiting: bool) -> Vec<u8> {
    format!(
        "Messages-Waiting: {}\r\nMessage-Account: sip:{mailbox}@{host}\r\nVoice-Message: {}/{} (0/0)\r\n",
        if waiting { "yes" } else { "no" },
        c.new,
        c.old
    )
    .into_bytes()
}

impl Switch {
    /// An authenticated SUBSCRIBE (new or refresh).
    pub(super) fn subscribe(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        source: Target,
        user: &str,
    ) {
        let event = req.headers.get("Event").unwrap_or_default();
        let event_name = event.split(';').next().unwrap_or_default().trim();
        if !event_name.eq_ignore_ascii_case("message-summary") {
            let tag = self.tag();
            let mut r = Response::to_request(req, StatusCode::BAD_EVENT, Some(&tag));
            r.headers.push("Allow-Events", "message-summary");
            return self.respond(tx, r);
        }
        let mailbox = req.uri.user_base().unwrap_or_default().to_string();
        if mailbox != user {
            info!(user = %user, mailbox = %Printable(&mailbox), "MWI subscription refused: not the caller's own mailbox");
            return self.reply(tx, req, StatusCode::FORBIDDEN);
        }
        let expires = req
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(MAX_EXPIRES);
        if expires != 0 && expires < MIN_EXPIRES {
            let tag = self.tag();
            let mut r = Response::to_request(req, StatusCode::INTERVAL_TOO_BRIEF, Some(&tag));
            r.headers.push("Min-Expires", &MIN_EXPIRES.to_string());
            return self.respond(tx, r);
        }
        let expires = expires.min(MAX_EXPIRES);
        let call_id = req.call_id().to_string();
        let in_dialog = req.headers.to().is_some_and(|t| t.tag().is_some());
        let local_tag = if in_dialog {
            match self.mwi.subs.get(&call_id) {
                Some(s) => crate::sip::header::param(&s.dialog.local, "tag")
                    .unwrap_or_default()
                    .to_string(),
                None => {
                    return self.respond(
                        tx,
                        Response::to_request(req, StatusCode::CALL_DOES_NOT_EXIST, None),
                    )
                }
            }
        } else {
            self.tag()
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
        let mut r = Response::to_request(req, StatusCode::OK, Some(&local_tag));
        r.headers.push("Expires", &expires.to_string());
        r.headers.push(
            "Contact",
            &self.config.local.contact(&mailbox, source.transport),
        );
        self.respond(tx, r);
        let sub = self
            .mwi
            .subs
            .entry(call_id)
            .or_insert_with(|| Subscription {
                mailbox: mailbox.clone(),
                dialog: Dialog::answering(req, &local_tag, source.transport),
                target: source,
                expires_at: now,
                notify_due: None,
            });
        // An ending subscription lives one more second, for its final NOTIFY.
        sub.expires_at = now + Duration::from_secs(u64::from(expires.max(1)));
        sub.target = source;
        sub.dialog.remote_target = build::remote_target(req);
        sub.notify_due = Some((now + NOTIFY_AFTER_200, expires == 0));
        self.changed = true;
        info!(mailbox = %mailbox, expires, "MWI subscription");
    }

    pub(super) fn mwi_timeouts(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (cid, s) in self.mwi.subs.iter_mut() {
            if let Some((t, end)) = s.notify_due {
                if t <= now {
                    s.notify_due = None;
                    due.push((s.mailbox.clone(), cid.clone(), end));
                }
            }
        }
        for (mailbox, call_id, end) in due {
            self.out.push_back(Command::CountMessages {
                mailbox,
                why: CountFor::Subscription { call_id, end },
            });
        }
        let before = self.mwi.subs.len();
        self.mwi.subs.retain(|cid, s| {
            let keep = s.expires_at > now || s.notify_due.is_some();
            if !keep {
                debug!(call_id = %Printable(cid), mailbox = %s.mailbox, "MWI subscription expired");
            }
            keep
        });
        if self.mwi.subs.len() != before {
            self.changed = true;
        }
    }

    /// A mailbox's counts, looked up for `why`.
    pub fn handle_counts(&mut self, now: Instant, mailbox: &str, why: CountFor, counts: Counts) {
        match why {
            CountFor::Registered => {
                // Only the registered contacts that do not subscribe learn the counts; an empty
                // mailbox needs no NOTIFY.
                if counts.new > 0 || counts.old > 0 {
                    self.send_counts(now, mailbox, counts, None, false);
                }
            }
            CountFor::Subscription { call_id, end } => {
                let Some(sub) = self.mwi.subs.get(&call_id) else {
                    return;
                };
                let left = sub.expires_at.saturating_duration_since(now).as_secs();
                let state = if end {
                    "terminated;reason=timeout".to_string()
                } else {
                    format!("active;expires={left}")
                };
                self.notify_sub(&call_id, counts, counts.new > 0, &state);
                if end {
                    self.mwi.subs.remove(&call_id);
                    self.changed = true;
                }
            }
            CountFor::Changed => {
                if self.mwi.last.get(mailbox) == Some(&counts) {
                    return;
                }
                let n = self.send_counts(now, mailbox, counts, None, true);
                info!(mailbox = %mailbox, new = counts.new, old = counts.old, phones = n, "message-waiting updated");
            }
        }
    }

    /// "MWI calibrate": force the lamp of every phone of `mailbox`; answers how many were told.
    pub fn set_lamp(&mut self, now: Instant, mailbox: &str, counts: Counts, on: bool) -> usize {
        let n = self.send_counts(now, mailbox, counts, Some(on), true);
        info!(mailbox = %mailbox, on, phones = n, "message-waiting lamp set by the administrator");
        n
    }

    /// A mailbox changed outside the phone menus: its counts are announced if they changed.
    pub fn mailbox_changed(&mut self, mailbox: &str) {
        self.out.push_back(Command::CountMessages {
            mailbox: mailbox.to_string(),
            why: CountFor::Changed,
        });
    }

    /// An account was removed: its registrations and subscriptions go now; answers whether it had a
    /// registration.
    pub fn account_removed(&mut self, extension: &str) -> bool {
        let had = self.registrar.forget(extension);
        self.mwi.subs.retain(|_, s| s.mailbox != extension);
        self.mwi.last.remove(extension);
        self.changed = true;
        info!(extension = %Printable(extension), registrations = had, "account removed: its registrations and subscriptions dropped");
        had
    }

    /// Lift the lockouts of an account, mailbox, address or conference (`conference 480`); answers whether anything was held.
    pub fn unlock(&mut self, what: &str) -> bool {
        let sip = self.guard.unlock(what);
        let pin = self.pin_guard.unlock(what);
        let conference = self.conf_guard.unlock(what);
        info!(what = %Printable(what), "lockout lifted by the administrator");
        self.changed = true;
        sip || pin || conference
    }

    /// A NOTIFY of a subscription failed: a 481 (or any 3xx-6xx) ends the subscription.
    pub(super) fn notify_failed(&mut self, call_id: &str, status: StatusCode) {
        if status >= 300 {
            warn!(
                status = status.as_u16(),
                "NOTIFY refused; subscription ended"
            );
            self.mwi.subs.remove(call_id);
            self.changed = true;
        }
    }

    fn notify_sub(&mut self, call_id: &str, counts: Counts, waiting: bool, state: &str) {
        let branch = self.ids.branch();
        let local = self.config.local.clone();
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
        req.body = body(&sub.mailbox, &local.host, counts, waiting);
        let target = sub.target;
        self.out.push_back(Command::Send {
            request: req,
            target,
            route: ClientRoute::Notify {
                call_id: call_id.to_string(),
            },
        });
    }

    /// Unsolicited NOTIFY (no subscription) to one registered contact.
    fn notify_contact(
        &mut self,
        mailbox: &str,
        uri: &SipUri,
        target: Target,
        counts: Counts,
        waiting: bool,
    ) {
        let local = self.config.local.clone();
        let mut dialog = Dialog {
            call_id: self.ids.call_id(),
            local: format!("<sip:{mailbox}@{}>;tag={}", local.host, self.ids.tag()),
            remote: format!("<sip:{mailbox}@{}>", local.host),
            remote_target: uri.clone(),
            route: Vec::new(),
            local_cseq: 0,
            transport: target.transport,
        };
        let branch = self.ids.branch();
        let mut req = build::in_dialog(&mut dialog, Method::Notify, &local, mailbox, &branch, None);
        req.headers
            .push("Contact", &local.contact(mailbox, target.transport));
        req.headers.push("Event", "message-summary");
        req.headers.push("Subscription-State", "active");
        req.headers
            .push("Content-Type", "application/simple-message-summary");
        req.body = body(mailbox, &local.host, counts, waiting);
        self.out.push_back(Command::Send {
            request: req,
            target,
            route: ClientRoute::Ignore,
        });
    }

    /// Tell the phones of `mailbox` its counts: subscribers in their dialogs (when `subscribers`), the
    /// other registered contacts unsolicited. `force` sets the lamp regardless of the counts.
    fn send_counts(
        &mut self,
        now: Instant,
        mailbox: &str,
        counts: Counts,
        force: Option<bool>,
        subscribers: bool,
    ) -> usize {
        let waiting = force.unwrap_or(counts.new > 0);
        let subs: Vec<(String, Target, Instant)> = self
            .mwi
            .subs
            .iter()
            .filter(|(_, s)| s.mailbox == mailbox)
            .map(|(cid, s)| (cid.clone(), s.target, s.expires_at))
            .collect();
        let mut sent = 0;
        for (cid, _, exp) in subs.iter().filter(|_| subscribers) {
            let left = exp.saturating_duration_since(now).as_secs();
            self.notify_sub(cid, counts, waiting, &format!("active;expires={left}"));
            sent += 1;
        }
        for b in self.registrar.lookup(now, mailbox) {
            if subs.iter().any(|(_, target, _)| *target == b.target) {
                continue;
            }
            self.notify_contact(mailbox, &b.uri, b.target, counts, waiting);
            sent += 1;
        }
        self.mwi.last.insert(mailbox.to_string(), counts);
        sent
    }
}
