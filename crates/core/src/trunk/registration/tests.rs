//! A registration against a simulated carrier on a fake clock: the carrier challenges and checks with
//! Parley's own digest verifier (replay-proof), so a wrong answer cannot pass.

use super::*;
use crate::sip::digest::{ha1, Algorithm, Credentials, DigestAuth, RequestLine, Verdict};
use crate::sip::StatusCode;

fn epoch() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn config(password: &str) -> RegistrationConfig {
    RegistrationConfig {
        registrar: SipUri::parse("sip:carrier.example").unwrap(),
        username: "4930123456".into(),
        auth_username: None,
        secret: ClientSecret::new(password),
        expires: Duration::from_secs(600),
        retry_first: Duration::from_secs(30),
        retry_max: Duration::from_secs(600),
        contact: "<sip:4930123456@192.0.2.10:5060>".into(),
        via_host: "192.0.2.10:5060".into(),
        transport: Transport::Udp,
    }
}

/// The carrier: a digest registrar for account `4930123456` with password `right` that grants `grant`
/// seconds (the switch's trunk tests use it too).
pub(crate) struct Carrier {
    auth: DigestAuth,
    grant: u64,
    /// The clock of the carrier's nonces, in seconds.
    clock: u64,
    /// Whether it challenges with Proxy-Authenticate (407) rather than 401.
    proxy: bool,
    /// REGISTERs accepted.
    pub(crate) accepted: u32,
}

impl Carrier {
    pub(crate) fn new(grant: u64) -> Carrier {
        Carrier {
            auth: DigestAuth::new("carrier.example", b"carrier-key", 300, vec![Algorithm::Md5]),
            grant,
            clock: 1_000,
            proxy: false,
            accepted: 0,
        }
    }

    pub(crate) fn answer(&mut self, req: &Request) -> Response {
        assert_eq!(req.method, Method::Register);
        let header = if self.proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let verdict = req.headers.get(header).map(|v| {
            let creds = Credentials::parse(v).expect("Parley's answer parses");
            assert_eq!(creds.username, "4930123456");
            self.auth.verify(
                &creds,
                RequestLine {
                    method: "REGISTER",
                    uri: &req.uri,
                },
                self.clock,
                |u, alg| Some(ha1(alg, u, "carrier.example", "right")),
            )
        });
        match verdict {
            Some(Verdict::Accepted) => {
                self.accepted += 1;
                let mut r = Response::to_request(req, StatusCode::OK, Some("c1"));
                let contact = req.headers.get("Contact").unwrap();
                r.headers
                    .push("Contact", &format!("{contact};expires={}", self.grant));
                r
            }
            other => {
                let stale = matches!(other, Some(Verdict::Stale));
                let (status, name) = if self.proxy {
                    (StatusCode::new(407).unwrap(), "Proxy-Authenticate")
                } else {
                    (StatusCode::UNAUTHORIZED, "WWW-Authenticate")
                };
                let mut r = Response::to_request(req, status, Some("c1"));
                for ch in self
                    .auth
                    .challenges(self.clock, u64::from(self.accepted), stale)
                {
                    r.headers.push(name, &ch);
                }
                r
            }
        }
    }
}

/// Sends what the registration has to send to the carrier and hands back the answers, until quiet.
/// Returns how many REGISTERs went.
fn exchange(r: &mut Registration, c: &mut Carrier, now: Instant) -> usize {
    let mut sent = 0;
    while let Some(req) = r.poll_request() {
        sent += 1;
        assert!(sent < 10, "a loop of REGISTERs");
        let resp = c.answer(&req);
        r.handle_response(now, &resp);
    }
    sent
}

#[test]
fn registers_with_digest_and_refreshes_before_expiry_with_a_growing_nonce_count() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 7);
    let mut c = Carrier::new(120);
    r.start(t0);
    assert_eq!(r.state(), &RegState::Registering);
    // The first REGISTER is challenged, the answer accepted.
    assert_eq!(exchange(&mut r, &mut c, t0), 2);
    assert_eq!(
        r.state(),
        &RegState::Registered {
            until: t0 + Duration::from_secs(120)
        }
    );
    assert_eq!(
        r.granted(),
        Some(Duration::from_secs(120)),
        "the carrier's grant"
    );
    assert_eq!(
        r.expires(),
        Duration::from_secs(600),
        "still what it asks for"
    );
    // Refreshed at half of a short grant, with the same nonce and the next count: one REGISTER.
    let refresh = r.poll_timeout().unwrap();
    assert_eq!(refresh, t0 + Duration::from_secs(60));
    r.handle_timeout(refresh - Duration::from_millis(1));
    assert!(r.poll_request().is_none(), "not yet");
    c.clock += 60;
    r.handle_timeout(refresh);
    assert_eq!(exchange(&mut r, &mut c, refresh), 1);
    assert_eq!(c.accepted, 2);
    assert!(
        matches!(r.state(), RegState::Registered { until } if *until == refresh + Duration::from_secs(120))
    );
    // Later the nonce has expired at the carrier: it says stale, and Parley answers the new one.
    c.clock += 400;
    let next = r.poll_timeout().unwrap();
    r.handle_timeout(next);
    assert_eq!(exchange(&mut r, &mut c, next), 2);
    assert_eq!(c.accepted, 3);
    assert!(matches!(r.state(), RegState::Registered { .. }));
}

#[test]
fn a_long_grant_is_refreshed_a_minute_before_it_ends_and_one_call_id_serves_every_refresh() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 7);
    let mut c = Carrier::new(3600);
    r.start(t0);
    let mut call_ids = Vec::new();
    let mut cseqs = Vec::new();
    let mut now = t0;
    for _ in 0..3 {
        while let Some(req) = r.poll_request() {
            call_ids.push(req.headers.get("Call-ID").unwrap().to_string());
            cseqs.push(req.headers.cseq().unwrap().0);
            let resp = c.answer(&req);
            r.handle_response(now, &resp);
        }
        let next = r.poll_timeout().unwrap();
        assert_eq!(next, now + Duration::from_secs(3540));
        now = next;
        c.clock += 3540;
        r.handle_timeout(now);
    }
    call_ids.dedup();
    assert_eq!(call_ids.len(), 1, "one Call-ID for the binding");
    assert!(cseqs.windows(2).all(|w| w[1] == w[0] + 1), "{cseqs:?}");
}

#[test]
fn wrong_credentials_fail_once_per_attempt_and_retry_with_a_doubling_back_off() {
    let t0 = epoch();
    let mut r = Registration::new(config("wrong"), 3);
    let mut c = Carrier::new(600);
    r.start(t0);
    // The challenge is answered once; the second challenge for the same nonce ends the attempt.
    assert_eq!(exchange(&mut r, &mut c, t0), 2);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..7 {
        let RegState::Failed { reason, retry_at } = r.state().clone() else {
            panic!("{:?}", r.state());
        };
        assert!(reason.contains("wrong credentials"), "{reason}");
        assert_eq!(r.poll_timeout(), Some(retry_at));
        waits.push((retry_at - now).as_secs());
        now = retry_at;
        r.handle_timeout(now);
        assert_eq!(r.state(), &RegState::Registering);
        assert_eq!(
            exchange(&mut r, &mut c, now),
            2,
            "two REGISTERs per attempt, no more"
        );
    }
    assert_eq!(waits, vec![30, 60, 120, 240, 480, 600, 600]);
    assert_eq!(c.accepted, 0);
}

#[test]
fn a_proxy_challenge_is_answered_in_proxy_authorization() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 11);
    let mut c = Carrier::new(300);
    c.proxy = true;
    r.start(t0);
    assert_eq!(exchange(&mut r, &mut c, t0), 2);
    assert_eq!(c.accepted, 1);
}

#[test]
fn interval_too_brief_takes_min_expires_and_busy_carriers_are_retried_when_they_say() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 5);
    r.start(t0);
    let req = r.poll_request().unwrap();
    assert_eq!(req.headers.get("Expires"), Some("600"));
    let mut brief = Response::to_request(&req, StatusCode::new(423).unwrap(), Some("x"));
    brief.headers.push("Min-Expires", "1800");
    r.handle_response(t0, &brief);
    let req = r.poll_request().unwrap();
    assert_eq!(req.headers.get("Expires"), Some("1800"));
    // 503 with Retry-After: the wait is the carrier's, within the configured bounds.
    let mut busy = Response::to_request(&req, StatusCode::SERVICE_UNAVAILABLE, Some("x"));
    busy.headers.push("Retry-After", "120 (maintenance)");
    r.handle_response(t0, &busy);
    let RegState::Failed { reason, retry_at } = r.state().clone() else {
        panic!("{:?}", r.state());
    };
    assert!(reason.starts_with("503"), "{reason}");
    assert_eq!(retry_at, t0 + Duration::from_secs(120));
    // A 423 whose Min-Expires is absurd is a failure, not a loop.
    r.handle_timeout(retry_at);
    let req = r.poll_request().unwrap();
    let mut absurd = Response::to_request(&req, StatusCode::new(423).unwrap(), Some("x"));
    absurd.headers.push("Min-Expires", "99999999999");
    r.handle_response(retry_at, &absurd);
    assert!(r.poll_request().is_none());
    assert!(matches!(r.state(), RegState::Failed { .. }));
}

#[test]
fn no_answer_is_a_failure_and_answers_to_other_requests_change_nothing() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 9);
    r.start(t0);
    let req = r.poll_request().unwrap();
    // A stranger's 200 (another Call-ID), and an answer to an older CSeq: ignored.
    let mut other = Response::to_request(&req, StatusCode::OK, Some("x"));
    other.headers.set("Call-ID", "forged@elsewhere");
    r.handle_response(t0, &other);
    let mut old = Response::to_request(&req, StatusCode::OK, Some("x"));
    old.headers.set("CSeq", "0 REGISTER");
    r.handle_response(t0, &old);
    assert_eq!(r.state(), &RegState::Registering);
    // 100 Trying is no answer either.
    r.handle_response(t0, &Response::to_request(&req, StatusCode::TRYING, None));
    r.handle_failed(t0 + Duration::from_secs(32));
    let RegState::Failed { reason, .. } = r.state() else {
        panic!("{:?}", r.state());
    };
    assert!(reason.contains("no answer"), "{reason}");
    // A 401 with nothing Parley can answer fails too (no loop).
    r.handle_timeout(r.poll_timeout().unwrap());
    let req = r.poll_request().unwrap();
    let mut basic = Response::to_request(&req, StatusCode::UNAUTHORIZED, Some("x"));
    basic.headers.push("WWW-Authenticate", "Basic realm=\"x\"");
    r.handle_response(t0, &basic);
    assert!(r.poll_request().is_none());
    assert!(matches!(r.state(), RegState::Failed { .. }));
}

#[test]
fn stopping_removes_the_binding_and_nothing_is_refreshed_after() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 13);
    let mut c = Carrier::new(600);
    r.start(t0);
    exchange(&mut r, &mut c, t0);
    r.stop(t0 + Duration::from_secs(5));
    let req = r.poll_request().unwrap();
    assert_eq!(req.headers.get("Expires"), Some("0"));
    assert!(
        req.headers.get("Authorization").is_some(),
        "answered with the nonce it holds"
    );
    r.handle_response(t0, &c.answer(&req));
    assert_eq!(r.state(), &RegState::Unregistered);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn absurd_grants_are_bounded_and_a_stop_overtakes_a_register_on_its_way() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 17);
    r.start(t0);
    let req = r.poll_request().unwrap();
    // A grant of u64::MAX seconds: taken as a day, no overflow.
    let mut huge = Response::to_request(&req, StatusCode::OK, Some("x"));
    huge.headers.push("Expires", "18446744073709551615");
    r.handle_response(t0, &huge);
    assert_eq!(r.granted(), Some(Duration::from_secs(86_400)));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(86_340)));
    // A grant of 0 s: refreshed as if it were ten seconds, not every half second.
    r.handle_timeout(r.poll_timeout().unwrap());
    let req = r.poll_request().unwrap();
    assert_eq!(
        req.headers.get("Expires"),
        Some("600"),
        "asks for its own expiry again"
    );
    let mut zero = Response::to_request(&req, StatusCode::OK, Some("x"));
    zero.headers.push("Expires", "0");
    let t1 = t0 + Duration::from_secs(86_340);
    r.handle_response(t1, &zero);
    assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(5)));
    // Stopped while a refresh is on its way: the removal overtakes it, its answer changes nothing.
    r.handle_timeout(t1 + Duration::from_secs(5));
    let refresh = r.poll_request().unwrap();
    r.stop(t1 + Duration::from_secs(6));
    let removal = r.poll_request().unwrap();
    assert_eq!(removal.headers.get("Expires"), Some("0"));
    r.handle_response(
        t1,
        &Response::to_request(&refresh, StatusCode::OK, Some("x")),
    );
    assert_eq!(r.state(), &RegState::Unregistered);
    // The removal challenged: answered once, then done.
    let mut c = Carrier::new(600);
    let resp = c.answer(&removal);
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    r.handle_response(t1, &resp);
    let again = r
        .poll_request()
        .expect("the removal answered with credentials");
    assert_eq!(again.headers.get("Expires"), Some("0"));
    assert!(again.headers.get("Authorization").is_some());
    r.handle_response(t1, &c.answer(&again));
    assert!(r.poll_request().is_none());
    assert_eq!(
        (r.state(), r.poll_timeout()),
        (&RegState::Unregistered, None)
    );
}

#[test]
fn a_carrier_raising_min_expires_again_and_again_cannot_keep_parley_sending() {
    let t0 = epoch();
    let mut r = Registration::new(config("right"), 19);
    r.start(t0);
    let mut sent = 0;
    while let Some(req) = r.poll_request() {
        sent += 1;
        assert!(sent < 10);
        let asked: u64 = req.headers.get("Expires").unwrap().parse().unwrap();
        let mut brief = Response::to_request(&req, StatusCode::new(423).unwrap(), Some("x"));
        brief.headers.push("Min-Expires", &(asked + 1).to_string());
        r.handle_response(t0, &brief);
    }
    assert_eq!(sent, 3, "two 423s answered, the third ends the attempt");
    assert!(matches!(r.state(), RegState::Failed { .. }));
}

#[test]
fn new_settings_for_the_same_binding_register_at_once_in_the_same_dialog_with_a_fresh_challenge() {
    let t0 = epoch();
    let mut r = Registration::new(config("wrong"), 7);
    let mut c = Carrier::new(120);
    r.start(t0);
    let first = r.poll_request().unwrap();
    let resp = c.answer(&first);
    r.handle_response(t0, &resp);
    exchange(&mut r, &mut c, t0);
    assert!(matches!(r.state(), RegState::Failed { .. }));
    let mut fixed = config("right");
    fixed.expires = Duration::from_secs(900);
    assert!(r.same_binding(&fixed));
    r.reconfigure(t0, fixed);
    assert_eq!(r.state(), &RegState::Registering);
    let again = r.poll_request().unwrap();
    assert_eq!(again.headers.get("Call-ID"), first.headers.get("Call-ID"));
    assert!(again.headers.cseq().unwrap().0 > first.headers.cseq().unwrap().0);
    assert_eq!(again.headers.get("Expires"), Some("900"));
    assert!(
        again.headers.get("Authorization").is_none(),
        "not the old answer"
    );
    let resp = c.answer(&again);
    r.handle_response(t0, &resp);
    exchange(&mut r, &mut c, t0);
    assert!(matches!(r.state(), RegState::Registered { .. }));
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + Duration::from_secs(60)),
        "no back-off left over"
    );
    let mut elsewhere = config("right");
    elsewhere.username = "other".into();
    assert!(!r.same_binding(&elsewhere));
}
