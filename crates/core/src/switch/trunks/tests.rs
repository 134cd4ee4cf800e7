//! Trunks in the switch on a fake clock, against the simulated carrier of the registration tests
//! (a digest registrar that verifies with Parley's own replay-proof verifier).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::sim::config;
use super::super::{ClientRoute, Command, Switch, TrunkRetry};
use crate::sip::digest::ClientSecret;
use crate::sip::{Method, Request, Response, StatusCode};
use crate::target::{Target, Transport};
use crate::trunk::registration::tests::Carrier;
use crate::trunk::{TrunkConfig, TrunkLogin, TrunkName};

const CARRIER: &str = "192.0.2.50:5060";

fn trunk(name: &str, password: &str) -> TrunkConfig {
    TrunkConfig {
        name: TrunkName::new(name).unwrap(),
        host: "carrier.example".into(),
        port: 5060,
        target: Ok(Target {
            transport: Transport::Udp,
            addr: CARRIER.parse::<SocketAddr>().unwrap(),
        }),
        login: Some(TrunkLogin {
            username: "4930123456".into(),
            auth_username: None,
            secret: ClientSecret::new(password),
            expires: Duration::from_secs(600),
        }),
        auth: Some(("4930123456".into(), ClientSecret::new(password))),
        peers: Vec::new(),
        options: Default::default(),
    }
}

fn switch(now: Instant) -> Switch {
    let mut c = config();
    c.trunk_retry = TrunkRetry {
        first: Duration::from_secs(20),
        max: Duration::from_secs(60),
    };
    Switch::new(now, c)
}

/// The REGISTERs the switch sends, with their registration's number.
fn registers(sw: &mut Switch) -> Vec<(Request, u64)> {
    let mut out = Vec::new();
    while let Some(cmd) = sw.poll_command() {
        if let Command::Send {
            request,
            target,
            route: ClientRoute::Register { reg },
        } = cmd
        {
            assert_eq!(request.method, Method::Register);
            assert_eq!(
                target.addr.ip(),
                CARRIER.parse::<SocketAddr>().unwrap().ip()
            );
            out.push((request, reg));
        }
    }
    out
}

/// The carrier answers every REGISTER the switch sends, until the switch is quiet. Returns how many.
fn exchange(sw: &mut Switch, carrier: &mut Carrier, now: Instant) -> usize {
    let mut n = 0;
    loop {
        let sent = registers(sw);
        if sent.is_empty() {
            return n;
        }
        for (req, reg) in sent {
            n += 1;
            assert!(n < 20, "a loop of REGISTERs");
            let resp = carrier.answer(&req);
            sw.handle_response(now, &ClientRoute::Register { reg }, resp);
        }
    }
}

fn state(
    sw: &Switch,
    now: Instant,
    name: &str,
) -> (String, Option<String>, Option<u64>, Option<u64>) {
    let v = sw.view(now);
    let t = v
        .trunks
        .iter()
        .find(|t| t.name == name)
        .expect("the trunk is shown");
    (t.state.clone(), t.reason.clone(), t.expires_in, t.retry_in)
}

fn expires_header(req: &Request) -> &str {
    req.headers.get("Expires").unwrap()
}

#[test]
fn a_registering_trunk_registers_with_digest_refreshes_on_the_switchs_timer_and_shows_it() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    let mut carrier = Carrier::new(120);
    sw.set_trunks(t0, vec![trunk("carrier", "right")]);
    assert_eq!(state(&sw, t0, "carrier").0, "registering");
    // Challenged, answered, accepted.
    assert_eq!(exchange(&mut sw, &mut carrier, t0), 2);
    assert_eq!(carrier.accepted, 1);
    assert_eq!(
        state(&sw, t0, "carrier"),
        ("registered".into(), None, Some(120), None)
    );
    // The refresh is the switch's timer, at half the short grant; one REGISTER, accepted.
    let (due, why) = sw.poll_timeout().unwrap();
    assert_eq!(
        (due, why),
        (t0 + Duration::from_secs(60), "trunk registration")
    );
    sw.handle_timeout(due);
    assert_eq!(
        exchange(&mut sw, &mut carrier, due),
        1,
        "the kept nonce, the next count"
    );
    assert_eq!(carrier.accepted, 2);
    assert_eq!(state(&sw, due, "carrier").2, Some(120));
    // The same configuration again changes nothing: no REGISTER.
    sw.set_trunks(due, vec![trunk("carrier", "right")]);
    assert!(registers(&mut sw).is_empty());
}

#[test]
fn a_wrong_password_shows_the_failure_and_retries_after_a_doubling_back_off() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    let mut carrier = Carrier::new(120);
    sw.set_trunks(t0, vec![trunk("carrier", "wrong")]);
    assert_eq!(
        exchange(&mut sw, &mut carrier, t0),
        2,
        "one answer to one challenge"
    );
    let (s, reason, _, retry) = state(&sw, t0, "carrier");
    assert_eq!(s, "failed");
    assert!(reason.unwrap().contains("credentials"));
    assert_eq!(retry, Some(20));
    let mut at = t0;
    for wait in [20, 40, 60, 60] {
        let (due, _) = sw.poll_timeout().unwrap();
        assert_eq!(
            due,
            at + Duration::from_secs(wait),
            "backs off, up to the limit"
        );
        // Nothing goes before it is due.
        sw.handle_timeout(due - Duration::from_millis(1));
        assert!(registers(&mut sw).is_empty());
        sw.handle_timeout(due);
        assert_eq!(exchange(&mut sw, &mut carrier, due), 2);
        at = due;
    }
    assert_eq!(carrier.accepted, 0);
    // The administrator fixes the password: the old registration has nothing to remove, the new
    // one registers at once.
    sw.set_trunks(at, vec![trunk("carrier", "right")]);
    exchange(&mut sw, &mut carrier, at);
    assert_eq!(state(&sw, at, "carrier").0, "registered");
}

#[test]
fn a_changed_or_removed_trunk_removes_its_binding_and_its_answers_find_it() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    let mut carrier = Carrier::new(3600);
    sw.set_trunks(t0, vec![trunk("a", "right"), trunk("b", "right")]);
    // (Both are challenged with the same nonce: the second answer to it is a replay to the carrier,
    // which says stale, and is answered again with the new one.)
    exchange(&mut sw, &mut carrier, t0);
    assert_eq!(carrier.accepted, 2);
    assert_eq!(state(&sw, t0, "b").0, "registered");
    // `a`'s password and expiry change: the same binding, registered again in the same dialog with
    // the new settings (a fresh challenge answered with the new password), nothing removed.
    let mut renewed = trunk("a", "right");
    renewed.login.as_mut().unwrap().expires = Duration::from_secs(900);
    renewed.login.as_mut().unwrap().secret = ClientSecret::new("wrong");
    sw.set_trunks(t0, vec![renewed, trunk("b", "right")]);
    let sent = registers(&mut sw);
    assert_eq!(sent.len(), 1);
    assert_eq!(expires_header(&sent[0].0), "900");
    assert!(
        sent[0].0.headers.get("Authorization").is_none(),
        "the old answer is not reused"
    );
    for (req, reg) in sent {
        let resp = carrier.answer(&req);
        sw.handle_response(t0, &ClientRoute::Register { reg }, resp);
    }
    exchange(&mut sw, &mut carrier, t0);
    assert_eq!(
        state(&sw, t0, "a").0,
        "failed",
        "the new password is the one used"
    );
    sw.set_trunks(t0, vec![trunk("a", "right"), trunk("b", "right")]);
    exchange(&mut sw, &mut carrier, t0);
    assert_eq!(state(&sw, t0, "a").0, "registered");
    // `a` moves to another address: its binding is removed there, and it registers anew.
    let mut changed = trunk("a", "right");
    changed.login.as_mut().unwrap().expires = Duration::from_secs(300);
    changed.target = Ok(Target {
        transport: Transport::Udp,
        addr: "192.0.2.50:5080".parse().unwrap(),
    });
    sw.set_trunks(t0, vec![changed.clone(), trunk("b", "right")]);
    let sent = registers(&mut sw);
    let mut exp: Vec<&str> = sent.iter().map(|(r, _)| expires_header(r)).collect();
    exp.sort();
    assert_eq!(
        exp,
        ["0", "300"],
        "the old binding removed, the new one asked for"
    );
    let removal = sent
        .iter()
        .find(|(r, _)| expires_header(r) == "0")
        .unwrap()
        .clone();
    // The removal is challenged like any REGISTER (a new nonce for a new Call-ID) and answered:
    // the retired registration still gets its answers.
    for (req, reg) in sent {
        let resp = carrier.answer(&req);
        sw.handle_response(t0, &ClientRoute::Register { reg }, resp);
    }
    exchange(&mut sw, &mut carrier, t0);
    assert_eq!(state(&sw, t0, "a").0, "registered");
    // A late duplicate answer to the finished removal is ignored.
    let late = Response::to_request(&removal.0, StatusCode::OK, Some("c1"));
    sw.handle_response(t0, &ClientRoute::Register { reg: removal.1 }, late);
    assert!(registers(&mut sw).is_empty());
    // `b` goes: one REGISTER with Expires 0, and `b` is no longer shown.
    sw.set_trunks(t0, vec![changed]);
    let sent = registers(&mut sw);
    assert_eq!(sent.len(), 1);
    assert_eq!(expires_header(&sent[0].0), "0");
    assert!(sw.view(t0).trunks.iter().all(|t| t.name != "b"));
    // Its transaction times out: nothing is retried for a trunk that is gone.
    sw.handle_client_done(t0, ClientRoute::Register { reg: sent[0].1 }, false);
    assert!(registers(&mut sw).is_empty());
    assert!(sw
        .poll_timeout()
        .is_none_or(|(t, _)| t > t0 + Duration::from_secs(1000)));
}

#[test]
fn no_answer_is_a_failure_with_a_retry_and_shutdown_removes_the_bindings() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    let mut carrier = Carrier::new(3600);
    sw.set_trunks(t0, vec![trunk("carrier", "right")]);
    let sent = registers(&mut sw);
    sw.handle_client_done(t0, ClientRoute::Register { reg: sent[0].1 }, false);
    let (s, reason, _, retry) = state(&sw, t0, "carrier");
    assert_eq!((s.as_str(), retry), ("failed", Some(20)));
    assert!(reason.unwrap().contains("no answer"));
    let at = t0 + Duration::from_secs(20);
    sw.handle_timeout(at);
    exchange(&mut sw, &mut carrier, at);
    assert_eq!(state(&sw, at, "carrier").0, "registered");
    sw.shutdown(at);
    let sent = registers(&mut sw);
    assert_eq!(sent.len(), 1);
    assert_eq!(expires_header(&sent[0].0), "0");
}

#[test]
fn an_ip_peer_never_registers_and_an_unresolved_host_says_why() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    let mut peer = trunk("peer", "");
    peer.login = None;
    let mut lost = trunk("lost", "right");
    lost.target = Err("cannot resolve carrier.invalid".into());
    sw.set_trunks(t0, vec![peer, lost]);
    assert!(registers(&mut sw).is_empty());
    assert_eq!(state(&sw, t0, "peer").0, "peer");
    let (s, reason, _, _) = state(&sw, t0, "lost");
    assert_eq!(s, "failed");
    assert_eq!(reason.as_deref(), Some("cannot resolve carrier.invalid"));
    // Duplicated names: the first is the trunk.
    let mut sw = switch(t0);
    let mut other = trunk("carrier", "right");
    other.port = 5080;
    sw.set_trunks(t0, vec![trunk("carrier", "right"), other]);
    assert_eq!(registers(&mut sw).len(), 1);
    assert_eq!(sw.view(t0).trunks.len(), 1);
}

#[test]
fn the_password_never_shows_in_debug_output_of_the_switch() {
    let t0 = crate::test_epoch();
    let mut sw = switch(t0);
    sw.set_trunks(t0, vec![trunk("carrier", "s3cr3t-Trunk")]);
    let dump = format!("{sw:?}");
    assert!(dump.contains("carrier.example"));
    assert!(!dump.contains("s3cr3t-Trunk"));
}
