//! The registrar's bindings (RFC 3261 §10.3): which contacts each extension has, until when, and over
//! which flow they are reached. Authentication happens before; storage of bindings is in memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::sip::StatusCode;
use crate::sip::{NameAddr, Request, Response, SipUri};
use crate::target::Target;

/// Registrar settings.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Expiry granted when the client asks for none.
    pub default_expires: u32,
    /// Smallest expiry accepted (shorter non-zero requests get 423).
    pub min_expires: u32,
    /// Largest expiry granted (longer requests are shortened).
    pub max_expires: u32,
    /// Largest expiry granted over a connection (TCP, TLS): no longer than the server keeps an idle
    /// connection open, so the phone's refresh keeps its flow alive.
    pub max_expires_stream: u32,
    /// Most contacts one extension may register (more get 503 and change nothing).
    pub max_contacts: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            default_expires: 3600,
            min_expires: 30,
            max_expires: 3600,
            max_expires_stream: 300,
            max_contacts: 10,
        }
    }
}

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as the phone sent it.
    pub uri: SipUri,
    /// Where requests to this contact are sent: the flow the REGISTER came from (NAT-safe).
    pub target: Target,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// The phone's User-Agent, for display.
    pub user_agent: String,
}

/// What a REGISTER did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The response to send.
    pub response: Response,
    /// Whether the set of bindings changed (added or removed contacts).
    pub changed: bool,
}

/// All extensions' bindings.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: BTreeMap<String, Vec<Binding>>,
}

impl Registrar {
    /// A registrar with the given settings.
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            bindings: BTreeMap::new(),
        }
    }

    /// Handle an authenticated REGISTER for `extension` received from `source`.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Request,
        extension: &str,
        source: Target,
        to_tag: &str,
    ) -> RegisterOutcome {
        let reply = |status: StatusCode| Response::to_request(req, status, Some(to_tag));
        let to_user = req
            .headers
            .to()
            .and_then(|t| t.uri.user_base().map(str::to_string));
        if to_user.as_deref() != Some(extension) {
            return RegisterOutcome {
                response: reply(StatusCode::FORBIDDEN),
                changed: false,
            };
        }
        let header_expires: Option<u32> = req
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse().ok());
        let contacts = req.headers.get_all("Contact");
        let call_id = req.call_id().to_string();
        let cseq = req.cseq();
        let user_agent = req
            .headers
            .get("User-Agent")
            .unwrap_or_default()
            .to_string();
        let mut changed = false;

        if contacts.contains(&"*") {
            if contacts.len() != 1 || header_expires != Some(0) {
                return RegisterOutcome {
                    response: reply(StatusCode::BAD_REQUEST),
                    changed: false,
                };
            }
            changed = self
                .bindings
                .remove(extension)
                .is_some_and(|b| !b.is_empty());
        } else {
            // Validate everything first so that a bad REGISTER changes nothing.
            let mut parsed = Vec::new();
            for c in &contacts {
                let Some(na) = NameAddr::parse(c) else {
                    return RegisterOutcome {
                        response: reply(StatusCode::BAD_REQUEST),
                        changed: false,
                    };
                };
                let asked = na
                    .param("expires")
                    .and_then(|e| e.parse().ok())
                    .or(header_expires)
                    .unwrap_or(self.config.default_expires);
                if asked != 0 && asked < self.config.min_expires {
                    let mut r = reply(StatusCode::INTERVAL_TOO_BRIEF);
                    r.headers
                        .push("Min-Expires", &self.config.min_expires.to_string());
                    return RegisterOutcome {
                        response: r,
                        changed: false,
                    };
                }
                let max = if source.transport == crate::target::Transport::Udp {
                    self.config.max_expires
                } else {
                    self.config.max_expires_stream.min(self.config.max_expires)
                };
                parsed.push((na.uri, asked.min(max)));
            }
            // One entry per contact (the last one given wins), so repeats cannot skew the count below.
            let mut unique: Vec<(SipUri, u32)> = Vec::with_capacity(parsed.len());
            for (uri, e) in parsed {
                match unique.iter_mut().find(|(u, _)| same_contact(u, &uri)) {
                    Some(slot) => *slot = (uri, e),
                    None => unique.push((uri, e)),
                }
            }
            let parsed = unique;
            let list = self.bindings.entry(extension.to_string()).or_default();
            list.retain(|b| b.expires_at > now);
            let added = parsed
                .iter()
                .filter(|(uri, e)| *e != 0 && !list.iter().any(|b| same_contact(&b.uri, uri)))
                .count();
            let removed = parsed
                .iter()
                .filter(|(uri, e)| *e == 0 && list.iter().any(|b| same_contact(&b.uri, uri)))
                .count();
            if list.len() + added > self.config.max_contacts + removed {
                let mut r =
                    Response::to_request(req, StatusCode::SERVICE_UNAVAILABLE, Some(to_tag));
                r.reason = "Too Many Registered Contacts".into();
                r.headers.push("Retry-After", "300");
                return RegisterOutcome {
                    response: r,
                    changed: false,
                };
            }
            for (uri, expires) in parsed {
                let pos = list.iter().position(|b| same_contact(&b.uri, &uri));
                match (pos, expires) {
                    (Some(p), 0) => {
                        list.remove(p);
                        changed = true;
                    }
                    (None, 0) => {}
                    (Some(p), e) => {
                        let b = &mut list[p];
                        if b.target != source {
                            changed = true;
                        }
                        b.uri = uri;
                        b.target = source;
                        b.expires_at = now + Duration::from_secs(e.into());
                        b.call_id = call_id.clone();
                        b.cseq = cseq;
                        b.user_agent = user_agent.clone();
                    }
                    (None, e) => {
                        list.push(Binding {
                            uri,
                            target: source,
                            expires_at: now + Duration::from_secs(e.into()),
                            call_id: call_id.clone(),
                            cseq,
                            user_agent: user_agent.clone(),
                        });
                        changed = true;
                    }
                }
            }
            if list.is_empty() {
                self.bindings.remove(extension);
            }
        }
        let mut response = reply(StatusCode::OK);
        for b in self.lookup(now, extension) {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            response
                .headers
                .push("Contact", &format!("<{}>;expires={left}", b.uri));
        }
        RegisterOutcome { response, changed }
    }

    /// Drop every binding of an extension (its account was removed).
    pub fn forget(&mut self, extension: &str) -> bool {
        self.bindings.remove(extension).is_some()
    }

    /// The live bindings of an extension.
    pub fn lookup(&self, now: Instant, extension: &str) -> Vec<Binding> {
        self.bindings
            .get(extension)
            .map(|l| l.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Drop lapsed bindings; returns the extensions that lost contacts.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut lost = Vec::new();
        self.bindings.retain(|ext, list| {
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            if list.len() != before {
                lost.push(ext.clone());
            }
            !list.is_empty()
        });
        lost
    }

    /// When the next binding lapses.
    pub fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        self.bindings
            .values()
            .flatten()
            .map(|b| b.expires_at)
            .min()
            .map(|t| (t, "binding expiry"))
    }

    /// Every extension with its live bindings (for status displays).
    pub fn all(&self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        self.bindings
            .keys()
            .map(|k| (k.clone(), self.lookup(now, k)))
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }
}

/// Contacts compare by user, host, port and transport (RFC 3261 §10.3 step 6, simplified).
fn same_contact(a: &SipUri, b: &SipUri) -> bool {
    a.user == b.user
        && a.host.eq_ignore_ascii_case(&b.host)
        && a.port.unwrap_or(5060) == b.port.unwrap_or(5060)
        && a.param("transport").map(str::to_ascii_lowercase)
            == b.param("transport").map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Message;
    use crate::target::Transport;

    /// The `expires` a 200 OK grants a given contact.
    fn granted_expires(resp: &Response, contact_uri: &str) -> Option<u32> {
        resp.headers
            .get_all("Contact")
            .into_iter()
            .find(|c| c.contains(contact_uri))
            .and_then(|c| crate::sip::header::param(c, "expires")?.parse().ok())
    }

    fn register(contact: &str, expires: Option<u32>) -> Request {
        let exp = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:100@pbx>;tag=a\r\nTo: <sip:100@pbx>\r\nCall-ID: c1\r\nCSeq: 2 REGISTER\r\nContact: {contact}\r\n{exp}Content-Length: 0\r\n\r\n"
        );
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn src(port: u16) -> Target {
        Target {
            transport: Transport::Udp,
            addr: ([127, 0, 0, 1], port).into(),
        }
    }

    #[test]
    fn contacts_beyond_the_bound_get_503_and_change_nothing() {
        let mut r = Registrar::new(RegistrarConfig {
            max_contacts: 3,
            ..Default::default()
        });
        let t = crate::test_epoch();
        for i in 0..3 {
            let out = r.handle_register(
                t,
                &register(&format!("<sip:100@10.0.0.{i}>"), Some(60)),
                "100",
                src(5070),
                "x",
            );
            assert_eq!(out.response.status, 200);
        }
        let out = r.handle_register(
            t,
            &register("<sip:100@10.0.0.9>", Some(60)),
            "100",
            src(5070),
            "x",
        );
        assert_eq!(out.response.status, 503);
        assert_eq!(r.lookup(t, "100").len(), 3);
        // Refreshing a known contact, or replacing one by removing another, is fine.
        let out = r.handle_register(
            t,
            &register("<sip:100@10.0.0.1>", Some(60)),
            "100",
            src(5070),
            "x",
        );
        assert_eq!(out.response.status, 200);
        let swap = register("<sip:100@10.0.0.9>, <sip:100@10.0.0.0>;expires=0", Some(60));
        assert_eq!(
            r.handle_register(t, &swap, "100", src(5070), "x")
                .response
                .status,
            200
        );
        assert_eq!(r.lookup(t, "100").len(), 3);
    }

    #[test]
    fn registrations_over_a_connection_last_no_longer_than_its_idle_timeout() {
        let mut r = Registrar::new(RegistrarConfig {
            max_expires_stream: 300,
            ..Default::default()
        });
        let t = crate::test_epoch();
        let tcp = Target {
            transport: Transport::Tcp,
            addr: ([127, 0, 0, 1], 5070).into(),
        };
        r.handle_register(
            t,
            &register("<sip:100@10.0.0.1;transport=tcp>", Some(3600)),
            "100",
            tcp,
            "x",
        );
        let left = r.lookup(t, "100")[0]
            .expires_at
            .saturating_duration_since(t);
        assert_eq!(left, Duration::from_secs(300));
    }

    #[test]
    fn two_contacts_register_and_each_is_listed_with_its_expiry() {
        let mut r = Registrar::new(RegistrarConfig::default());
        let t0 = crate::test_epoch();
        let o = r.handle_register(
            t0,
            &register("<sip:100@127.0.0.1:5070>", Some(120)),
            "100",
            src(5070),
            "t",
        );
        assert!(o.changed);
        let o = r.handle_register(
            t0,
            &register("<sip:100@127.0.0.1:5071>;expires=60", None),
            "100",
            src(5071),
            "t",
        );
        assert_eq!(o.response.status, 200);
        assert_eq!(granted_expires(&o.response, "5070"), Some(120));
        assert_eq!(granted_expires(&o.response, "5071"), Some(60));
        assert_eq!(r.lookup(t0, "100").len(), 2);
        assert_eq!(r.lookup(t0 + Duration::from_secs(61), "100").len(), 1);
        assert_eq!(
            r.expire(t0 + Duration::from_secs(121)),
            vec!["100".to_string()]
        );
        assert!(r.lookup(t0, "100").is_empty());
    }

    #[test]
    fn expires_zero_removes_one_contact_and_star_removes_all() {
        let mut r = Registrar::new(RegistrarConfig::default());
        let t0 = crate::test_epoch();
        r.handle_register(
            t0,
            &register("<sip:100@h:1>, <sip:100@h:2>", Some(60)),
            "100",
            src(1),
            "t",
        );
        r.handle_register(t0, &register("<sip:100@h:1>", Some(0)), "100", src(1), "t");
        assert_eq!(r.lookup(t0, "100").len(), 1);
        let bad = r.handle_register(t0, &register("*", Some(30)), "100", src(1), "t");
        assert_eq!(bad.response.status, 400);
        let o = r.handle_register(t0, &register("*", Some(0)), "100", src(1), "t");
        assert!(o.changed);
        assert!(r.lookup(t0, "100").is_empty());
    }

    #[test]
    fn too_short_expiry_gets_423_with_min_expires() {
        let mut r = Registrar::new(RegistrarConfig::default());
        let o = r.handle_register(
            crate::test_epoch(),
            &register("<sip:100@h>", Some(5)),
            "100",
            src(1),
            "t",
        );
        assert_eq!(o.response.status, 423);
        assert_eq!(o.response.headers.get("Min-Expires"), Some("30"));
    }

    #[test]
    fn registering_someone_elses_address_is_forbidden() {
        let mut r = Registrar::new(RegistrarConfig::default());
        let o = r.handle_register(
            crate::test_epoch(),
            &register("<sip:100@h>", None),
            "101",
            src(1),
            "t",
        );
        assert_eq!(o.response.status, 403);
    }
}
