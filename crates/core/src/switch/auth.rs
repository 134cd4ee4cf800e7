//! Digest authentication of requests, in the switch's order: the lockout first (an address or account
//! locked out is refused before its credentials are looked at, except an account's own phone registered
//! from that address), then the credentials (the account's HA1 is a lookup whose answer comes back in
//! [`Switch::handle_credentials`]), then the verdict, counting failures only for accounts that exist.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{Command, JobId, Pending, Switch, MAX_PENDING, MAX_PENDING_PER_ADDRESS};
use crate::call::TxId;
use crate::extension::Extension;
use crate::guard::Lockout;
use crate::sip::digest::{Algorithm, Credentials, RequestLine, Verdict};
use crate::sip::StatusCode;
use crate::sip::{Request, Response};
use crate::target::Target;
use crate::text::Printable;

/// What an authenticated request goes on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    Register,
    Invite,
    Subscribe,
    /// MESSAGE, PUBLISH, REFER, NOTIFY outside a dialog: not supported (405) once authenticated.
    NotSupported,
}

/// A request waiting for its account's HA1.
#[derive(Debug)]
pub(super) struct Waiting {
    tx: TxId,
    req: Request,
    source: Target,
    then: Then,
    creds: Credentials,
}

impl Waiting {
    /// The request that was waiting.
    pub(super) fn into_request(self) -> Request {
        self.req
    }

    /// Its transaction and request.
    pub(super) fn request(&self) -> (TxId, &Request) {
        (self.tx, &self.req)
    }

    /// Where it came from.
    pub(super) fn source_ip(&self) -> std::net::IpAddr {
        crate::guard::address_key(self.source.addr.ip())
    }
}

impl Switch {
    /// Authenticate `req` (`Proxy-Authorization` for INVITE-like requests, else `Authorization`);
    /// it goes on to `then` once accepted, else it has been answered (401/407 or 403).
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Request,
        source: Target,
        then: Then,
    ) {
        let header = if proxy(then) {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let creds = req
            .headers
            .get_all(header)
            .into_iter()
            .filter_map(|h| Credentials::parse(h).ok())
            .find(|c| c.realm == self.auth.realm());
        let ip = source.addr.ip();
        let account = creds.as_ref().map(|c| c.username.as_str());
        let registered_here = account.is_some_and(|a| {
            self.registrar
                .lookup(now, a)
                .iter()
                .any(|b| b.target.addr.ip() == ip)
        });
        if self.guard.is_locked(now, ip, account, registered_here) {
            info!(%source, user = %Printable(account.unwrap_or("-")), method = %req.method, "refused: locked out after repeated authentication failures");
            return self.reply(tx, &req, StatusCode::FORBIDDEN);
        }
        let Some(creds) = creds else {
            return self.challenge(now, tx, &req, then, false);
        };
        let algorithm = Algorithm::parse(creds.algorithm.as_deref());
        let room =
            self.pending.len() < MAX_PENDING && self.pending_from(ip) < MAX_PENDING_PER_ADDRESS;
        match algorithm {
            Some(algorithm) if Extension::is_valid(&creds.username) && room => {
                let job = self.new_job();
                self.out.push_back(Command::Credentials {
                    job,
                    account: creds.username.clone(),
                    algorithm,
                });
                if then == Then::Invite {
                    self.waiting_invites.insert(tx, job);
                }
                self.pending.insert(
                    job,
                    Pending::Credentials(Waiting {
                        tx,
                        req,
                        source,
                        then,
                        creds,
                    }),
                );
            }
            Some(_) if Extension::is_valid(&creds.username) => {
                warn!("too many requests waiting for account lookups: 503");
                let tag = self.tag();
                let mut r = Response::to_request(&req, StatusCode::SERVICE_UNAVAILABLE, Some(&tag));
                r.headers.push("Retry-After", "5");
                self.respond(tx, r);
            }
            _ => self.verdict(
                now,
                Waiting {
                    tx,
                    req,
                    source,
                    then,
                    creds,
                },
                None,
            ),
        }
    }

    /// The HA1 of the account a request named (`Ok(None)`: no such account; `Err`: the directory
    /// cannot say now, the database away: 503 with Retry-After, counted as no failure, so that
    /// phones refreshing their registrations retry instead of giving up on a 403).
    pub fn handle_credentials(
        &mut self,
        now: Instant,
        job: JobId,
        ha1: Result<Option<String>, ()>,
    ) {
        let Some(Pending::Credentials(w)) = self.pending.remove(&job) else {
            return;
        };
        if w.then == Then::Invite && self.waiting_invites.remove(&w.tx).is_none() {
            return; // cancelled while waiting
        }
        let Ok(ha1) = ha1 else {
            warn!(method = %w.req.method, "account lookup failed: 503");
            return self.unavailable(w.tx, &w.req);
        };
        // Guesses sent in parallel were all admitted before their lookups; each verdict is reached
        // one at a time here, and sees the lockout the ones before it caused.
        let ip = w.source.addr.ip();
        let registered_here = self
            .registrar
            .lookup(now, &w.creds.username)
            .iter()
            .any(|b| b.target.addr.ip() == ip);
        if self
            .guard
            .is_locked(now, ip, Some(&w.creds.username), registered_here)
        {
            info!(source = %w.source, user = %Printable(&w.creds.username), method = %w.req.method, "refused: locked out after repeated authentication failures");
            return self.reply(w.tx, &w.req, StatusCode::FORBIDDEN);
        }
        self.verdict(now, w, ha1);
    }

    /// 503 with a Retry-After: the directory is away for now.
    pub(super) fn unavailable(&mut self, tx: TxId, req: &Request) {
        let tag = self.tag();
        let mut r = Response::to_request(req, StatusCode::SERVICE_UNAVAILABLE, Some(&tag));
        r.headers.push("Retry-After", "30");
        self.respond(tx, r);
    }

    fn verdict(&mut self, now: Instant, w: Waiting, ha1: Option<String>) {
        let Waiting {
            tx,
            req,
            source,
            then,
            creds,
        } = w;
        let known = ha1.is_some();
        let line = RequestLine {
            method: req.method.as_str(),
            uri: &req.uri,
        };
        let secs = self.digest_secs(now);
        let stale = match self.auth.verify(&creds, line, secs, |_, _| ha1) {
            Verdict::Accepted => {
                return self.authenticated(now, tx, req, source, then, creds.username)
            }
            Verdict::Stale => true,
            Verdict::Replayed => {
                info!(user = %Printable(&creds.username), %source, method = %req.method, "digest response seen before (replayed or nonce forgotten): challenged again");
                true
            }
            Verdict::UnknownNonce => {
                debug!(%source, method = %req.method, "digest with a nonce that is not ours (made up, or from before a restart): challenged again");
                true
            }
            Verdict::Unusable => {
                info!(user = %Printable(&creds.username), %source, method = %req.method, "digest refused: no qop, or its uri is not the Request-URI");
                return self.reply(tx, &req, StatusCode::FORBIDDEN);
            }
            Verdict::Rejected => {
                let user = crate::guard::account_key(&creds.username);
                info!(user = %Printable(&user), %source, method = %req.method, "authentication failed");
                self.guard.prune(now);
                // Only real accounts are counted by name: made-up names cannot fill the table.
                let account = known.then_some(user.as_str());
                for lock in self.guard.record_failure(now, source.addr.ip(), account) {
                    match lock {
                        Lockout::Address(a, d) => {
                            warn!(address = %a, secs = d.as_secs(), "authentication lockout of a source address")
                        }
                        Lockout::Account(u, d) => {
                            warn!(user = %u, secs = d.as_secs(), "authentication lockout of an account")
                        }
                    }
                }
                self.changed = true;
                return self.reply(tx, &req, StatusCode::FORBIDDEN);
            }
        };
        self.challenge(now, tx, &req, then, stale);
    }

    fn challenge(&mut self, now: Instant, tx: TxId, req: &Request, then: Then, stale: bool) {
        let (status, name) = if proxy(then) {
            (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "Proxy-Authenticate",
            )
        } else {
            (StatusCode::UNAUTHORIZED, "WWW-Authenticate")
        };
        let tag = self.tag();
        let mut r = Response::to_request(req, status, Some(&tag));
        let random = self.ids.next_u64();
        for ch in self.auth.challenges(self.digest_secs(now), random, stale) {
            r.headers.push(name, &ch);
        }
        self.respond(tx, r);
    }

    fn authenticated(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Request,
        source: Target,
        then: Then,
        user: String,
    ) {
        match then {
            Then::Register => self.register(now, tx, &req, source, &user),
            Then::Invite => self.invite_from(now, tx, req, source, user),
            Then::Subscribe => self.subscribe(now, tx, &req, source, &user),
            Then::NotSupported => {
                let tag = self.tag();
                let mut r = Response::to_request(&req, StatusCode::METHOD_NOT_ALLOWED, Some(&tag));
                r.headers.push("Allow", super::ALLOW);
                self.respond(tx, r);
            }
        }
    }
}

fn proxy(then: Then) -> bool {
    matches!(then, Then::Invite | Then::NotSupported)
}
