//! Strict media sources (Asterisk's `strictrtp`, rtpengine's strict source): a media socket accepts
//! packets only from its call's own party. It learns the party's address once, from the first packet
//! whose source IP is one the signalling named (the SDP's `c=` address or the leg's signalling source,
//! so that a phone behind NAT, whose media port differs, still works). After that, packets from any
//! other source are strangers: dropped and counted. It learns again only on a new SDP, or, to follow a
//! NAT binding that moved, from the same IP once the learned source has been silent for a while. A
//! source learned by its IP alone gives way to the SDP's exact address when that starts sending, so a
//! stranger sharing the party's IP cannot keep a phone that is not behind NAT from being heard.
//! No IO: time comes in as `now`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long the learned source must be silent before a new port on the same IP is learned.
pub const RELEARN_AFTER: Duration = Duration::from_secs(2);

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCheck {
    /// From the learned source: accept.
    Accept,
    /// Accept, and this source is learned from now on (first packet, or a NAT binding that moved).
    Learned(SocketAddr),
    /// From somebody else: drop it.
    Stranger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Learned {
    addr: SocketAddr,
    last: Instant,
    /// Learned because it is exactly the SDP's address (not only its IP).
    exact: bool,
}

/// The source policy of one media socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrictSource {
    sdp: Option<SocketAddr>,
    signalling: Option<IpAddr>,
    learned: Option<Learned>,
    strangers: u64,
}

impl StrictSource {
    /// A socket that expects nobody yet (every packet is a stranger until [`StrictSource::expect`]).
    pub fn new() -> StrictSource {
        StrictSource::default()
    }

    /// What the signalling says about the party: the address of its SDP and the IP its signalling comes
    /// from. A different SDP address is a new SDP: the learned source is forgotten.
    pub fn expect(&mut self, sdp: Option<SocketAddr>, signalling: Option<IpAddr>) {
        if sdp != self.sdp {
            self.learned = None;
        }
        self.sdp = sdp;
        self.signalling = signalling;
    }

    fn expected_ip(&self, ip: IpAddr) -> bool {
        let same = |a: IpAddr| canonical(a) == canonical(ip);
        self.sdp.is_some_and(|s| same(s.ip())) || self.signalling.is_some_and(same)
    }

    /// Judge one packet from `src` arriving at `now`.
    pub fn check(&mut self, now: Instant, src: SocketAddr) -> SourceCheck {
        // The fast path, nearly every packet: one comparison with the learned source.
        if let Some(l) = self.learned.as_mut() {
            if l.addr == src {
                l.last = now;
                return SourceCheck::Accept;
            }
        }
        let exact = self.sdp == Some(src);
        let expected = exact || self.expected_ip(src.ip());
        match self.learned.as_mut() {
            // The SDP's own address takes over from a source learned by its IP alone.
            Some(l) if exact && !l.exact => {
                *l = Learned {
                    addr: src,
                    last: now,
                    exact,
                };
                SourceCheck::Learned(src)
            }
            // A NAT binding that moved: same IP, new port, the old one silent. A source learned as the
            // SDP's exact address is behind no NAT and is never replaced this way (a party on hold is
            // silent too).
            Some(l)
                if !l.exact
                    && canonical(l.addr.ip()) == canonical(src.ip())
                    && now.saturating_duration_since(l.last) >= RELEARN_AFTER =>
            {
                *l = Learned {
                    addr: src,
                    last: now,
                    exact,
                };
                SourceCheck::Learned(src)
            }
            None if expected => {
                self.learned = Some(Learned {
                    addr: src,
                    last: now,
                    exact,
                });
                SourceCheck::Learned(src)
            }
            _ => {
                self.strangers += 1;
                SourceCheck::Stranger
            }
        }
    }

    /// The learned source, if any.
    pub fn learned(&self) -> Option<SocketAddr> {
        self.learned.map(|l| l.addr)
    }

    /// Where to send to the party: the learned source (symmetric RTP), else the SDP's address.
    pub fn destination(&self) -> Option<SocketAddr> {
        self.learned().or(self.sdp)
    }

    /// Packets dropped as strangers so far.
    pub fn strangers(&self) -> u64 {
        self.strangers
    }
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now()
    }

    #[test]
    fn nobody_is_accepted_before_the_signalling_names_the_party() {
        let mut s = StrictSource::new();
        assert_eq!(s.check(epoch(), at("10.0.0.5:4000")), SourceCheck::Stranger);
        assert_eq!(s.strangers(), 1);
        assert_eq!(s.destination(), None);
    }

    #[test]
    fn the_party_is_learned_once_and_a_stranger_spraying_first_is_never_learned() {
        let t = epoch();
        let mut s = StrictSource::new();
        s.expect(Some(at("10.0.0.5:4000")), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(s.check(t, at("10.66.66.66:4000")), SourceCheck::Stranger);
        assert_eq!(
            s.check(t, at("10.0.0.5:4000")),
            SourceCheck::Learned(at("10.0.0.5:4000"))
        );
        assert_eq!(s.check(t, at("10.0.0.5:4000")), SourceCheck::Accept);
        // Another port of the same host while the party talks: a stranger (someone on the same NAT).
        assert_eq!(s.check(t, at("10.0.0.5:4002")), SourceCheck::Stranger);
        assert_eq!(s.check(t, at("10.66.66.66:4000")), SourceCheck::Stranger);
        assert_eq!(s.strangers(), 3);
        assert_eq!(s.destination(), Some(at("10.0.0.5:4000")));
    }

    #[test]
    fn a_phone_behind_nat_is_learned_by_its_signalling_address_on_another_port() {
        let t = epoch();
        let mut s = StrictSource::new();
        // The SDP names a private address; the signalling came from the NAT's public one.
        s.expect(
            Some(at("192.168.1.20:4000")),
            Some("203.0.113.9".parse().unwrap()),
        );
        assert_eq!(
            s.check(t, at("203.0.113.9:61000")),
            SourceCheck::Learned(at("203.0.113.9:61000"))
        );
        assert_eq!(s.destination(), Some(at("203.0.113.9:61000")));
    }

    #[test]
    fn the_sdp_address_takes_over_from_a_same_ip_stranger_that_sent_first() {
        let t = epoch();
        let mut s = StrictSource::new();
        s.expect(Some(at("10.0.0.5:4000")), Some("10.0.0.5".parse().unwrap()));
        // Someone else on the phone's IP sprays first and is learned by IP...
        assert_eq!(
            s.check(t, at("10.0.0.5:6666")),
            SourceCheck::Learned(at("10.0.0.5:6666"))
        );
        // ...until the phone's own SDP address speaks, which wins and is kept.
        assert_eq!(
            s.check(t, at("10.0.0.5:4000")),
            SourceCheck::Learned(at("10.0.0.5:4000"))
        );
        assert_eq!(s.check(t, at("10.0.0.5:6666")), SourceCheck::Stranger);
        assert_eq!(s.destination(), Some(at("10.0.0.5:4000")));
    }

    #[test]
    fn a_source_at_the_sdps_exact_address_is_kept_through_silence() {
        let t = epoch();
        let mut s = StrictSource::new();
        s.expect(Some(at("10.0.0.5:4000")), Some("10.0.0.5".parse().unwrap()));
        s.check(t, at("10.0.0.5:4000"));
        // On hold for a minute; someone else on that host sends from another port.
        assert_eq!(
            s.check(t + Duration::from_secs(60), at("10.0.0.5:4444")),
            SourceCheck::Stranger
        );
        assert_eq!(s.destination(), Some(at("10.0.0.5:4000")));
    }

    #[test]
    fn a_moved_nat_binding_is_followed_only_after_two_seconds_of_silence() {
        let t = epoch();
        let mut s = StrictSource::new();
        s.expect(
            Some(at("192.168.1.5:4000")),
            Some("10.0.0.5".parse().unwrap()),
        );
        s.check(t, at("10.0.0.5:4000"));
        let moved = at("10.0.0.5:5000");
        assert_eq!(
            s.check(t + Duration::from_millis(1500), moved),
            SourceCheck::Stranger
        );
        assert_eq!(
            s.check(t + Duration::from_millis(1500), at("10.0.0.5:4000")),
            SourceCheck::Accept
        );
        assert_eq!(
            s.check(t + Duration::from_millis(3600), moved),
            SourceCheck::Learned(moved)
        );
        // Another IP never takes over, however long the silence.
        assert_eq!(
            s.check(t + Duration::from_secs(60), at("10.9.9.9:4000")),
            SourceCheck::Stranger
        );
    }

    #[test]
    fn a_new_sdp_forgets_the_learned_source_and_the_same_sdp_keeps_it() {
        let t = epoch();
        let mut s = StrictSource::new();
        s.expect(Some(at("10.0.0.5:4000")), None);
        s.check(t, at("10.0.0.5:4000"));
        s.expect(Some(at("10.0.0.5:4000")), None);
        assert_eq!(s.learned(), Some(at("10.0.0.5:4000")));
        s.expect(Some(at("10.0.0.7:4100")), None);
        assert_eq!(s.learned(), None);
        assert_eq!(s.check(t, at("10.0.0.5:4000")), SourceCheck::Stranger);
        assert_eq!(
            s.check(t, at("10.0.0.7:4100")),
            SourceCheck::Learned(at("10.0.0.7:4100"))
        );
    }
}
