//! OPTIONS keep-alive of a trunk (what Asterisk calls qualify), without IO: every `interval` an
//! OPTIONS goes to the carrier; an answer says it is there (any final response but 408 and 5xx: a
//! carrier that answers 404 or 405 to OPTIONS is still up), no answer or 408/5xx is a failure, and
//! [`DOWN_AFTER`] failures in a row mark the trunk down until one answer brings it back. A trunk
//! that is down carries no calls (emergency calls excepted, as for a failed registration).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ids::Ids;
use crate::sip::{Headers, Method, Request, Response, SipUri};
use crate::target::Transport;

/// Failures in a row that mark a trunk down.
pub const DOWN_AFTER: u32 = 2;

/// The shortest and longest interval an administrator may set.
pub const INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 2..=3600;

/// What the probes need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveConfig {
    /// The carrier's URI (`sip:host:port`).
    pub uri: SipUri,
    /// Parley's `host:port` for the Via.
    pub via_host: String,
    /// Parley's URI for From.
    pub from: String,
    /// The transport.
    pub transport: Transport,
    /// How often.
    pub interval: Duration,
}

/// A trunk's keep-alive.
#[derive(Debug)]
pub struct KeepAlive {
    config: KeepAliveConfig,
    ids: Ids,
    next: Instant,
    /// The Call-ID of the probe waiting for its answer.
    waiting: Option<String>,
    failures: u32,
    down: Option<String>,
    out: VecDeque<Request>,
}

impl KeepAlive {
    /// Probes that start now.
    pub fn new(now: Instant, config: KeepAliveConfig, seed: u64) -> KeepAlive {
        KeepAlive {
            config,
            ids: Ids::new(seed),
            next: now,
            waiting: None,
            failures: 0,
            down: None,
            out: VecDeque::new(),
        }
    }

    /// How it probes.
    pub fn config(&self) -> &KeepAliveConfig {
        &self.config
    }

    /// Why the trunk is down (`None`: up, or not known to be down yet).
    pub fn down(&self) -> Option<&str> {
        self.down.as_deref()
    }

    /// When the next probe is due (none while one waits for its answer).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.is_none().then_some(self.next)
    }

    /// Send a probe if one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.waiting.is_some() || now < self.next {
            return;
        }
        let c = &self.config;
        let call_id = self.ids.call_id();
        let mut headers = Headers::default();
        headers.push(
            "Via",
            &super::via(c.transport, &c.via_host, &self.ids.branch()),
        );
        headers.push("Max-Forwards", "70");
        headers.push("From", &format!("<{}>;tag={}", c.from, self.ids.tag()));
        headers.push("To", &format!("<{}>", c.uri));
        headers.push("Call-ID", &call_id);
        headers.push("CSeq", "1 OPTIONS");
        headers.push("Accept", "application/sdp");
        headers.push("Content-Length", "0");
        self.out.push_back(Request {
            method: Method::Options,
            uri: c.uri.clone(),
            headers,
            body: Vec::new(),
        });
        self.waiting = Some(call_id);
    }

    /// The next OPTIONS to send.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.out.pop_front()
    }

    /// The carrier answered a probe. Returns whether the trunk's state changed.
    pub fn handle_response(&mut self, now: Instant, response: &Response) -> bool {
        if response.status.as_u16() < 200
            || self.waiting.as_deref() != response.headers.get("Call-ID")
        {
            return false;
        }
        let s = response.status.as_u16();
        if s == 408 || (500..600).contains(&s) {
            self.failed(now, format!("OPTIONS answered {s}"))
        } else {
            self.waiting = None;
            self.next = now + self.config.interval;
            self.failures = 0;
            self.down.take().is_some()
        }
    }

    /// A probe went unanswered. Returns whether the trunk's state changed.
    pub fn handle_failed(&mut self, now: Instant) -> bool {
        if self.waiting.is_none() {
            return false;
        }
        self.failed(now, "no answer to OPTIONS".into())
    }

    fn failed(&mut self, now: Instant, why: String) -> bool {
        self.waiting = None;
        self.next = now + self.config.interval;
        self.failures = self.failures.saturating_add(1);
        if self.failures < DOWN_AFTER {
            return false;
        }
        let was_down = self.down.is_some();
        self.down = Some(format!("{why} ({} in a row)", self.failures));
        !was_down
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::StatusCode;

    fn epoch() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    fn probes(now: Instant) -> KeepAlive {
        KeepAlive::new(
            now,
            KeepAliveConfig {
                uri: SipUri::parse("sip:192.0.2.50:5060").unwrap(),
                via_host: "192.0.2.1:5060".into(),
                from: "sip:parley@192.0.2.1".into(),
                transport: Transport::Udp,
                interval: Duration::from_secs(30),
            },
            7,
        )
    }

    fn answer(req: &Request, status: u16) -> Response {
        Response::to_request(req, StatusCode::new(status).unwrap(), Some("c"))
    }

    #[test]
    fn two_failures_in_a_row_mark_the_trunk_down_and_one_answer_brings_it_back() {
        let t = epoch();
        let mut k = probes(t);
        assert_eq!(k.poll_timeout(), Some(t));
        k.handle_timeout(t);
        let first = k.poll_request().unwrap();
        assert_eq!(first.method, Method::Options);
        assert_eq!(first.uri.to_string(), "sip:192.0.2.50:5060");
        assert_eq!(k.poll_timeout(), None, "one probe at a time");
        // A 405 is an answer: the carrier is there.
        assert!(!k.handle_response(t, &answer(&first, 405)));
        assert_eq!(k.poll_timeout(), Some(t + Duration::from_secs(30)));
        let t = t + Duration::from_secs(30);
        k.handle_timeout(t);
        let second = k.poll_request().unwrap();
        assert_ne!(
            second.call_id(),
            first.call_id(),
            "each probe its own Call-ID"
        );
        assert!(!k.handle_failed(t), "one failure is not yet down");
        assert_eq!(k.down(), None);
        let t = t + Duration::from_secs(30);
        k.handle_timeout(t);
        let third = k.poll_request().unwrap();
        // An answer to an older probe counts for nothing.
        assert!(!k.handle_response(t, &answer(&first, 200)));
        assert!(k.handle_response(t, &answer(&third, 503)));
        assert_eq!(k.down(), Some("OPTIONS answered 503 (2 in a row)"));
        let t = t + Duration::from_secs(30);
        k.handle_timeout(t);
        let fourth = k.poll_request().unwrap();
        assert!(!k.handle_failed(t), "still down");
        assert!(k.down().unwrap().contains("no answer"));
        let _ = fourth;
        let t = t + Duration::from_secs(30);
        k.handle_timeout(t);
        let fifth = k.poll_request().unwrap();
        assert!(k.handle_response(t, &answer(&fifth, 200)), "back up");
        assert_eq!(k.down(), None);
    }
}
