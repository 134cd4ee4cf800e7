//! SDP (RFC 4566) for audio calls and Parley's RFC 3264 offer/answer: parse a peer's session, keep only
//! what the anchored relay can carry (G.711 µ-law/A-law and RFC 4733 telephone-event), and write the
//! session Parley presents to each leg (its own address and ports). No IO.

use std::net::{IpAddr, SocketAddr};

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not parseable as SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No audio stream, or none with a codec Parley supports.
    #[error("no acceptable audio codec (Parley relays PCMU, PCMA and telephone-event)")]
    NoCommonCodec,
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// a=sendrecv (default)
    SendRecv,
    /// a=sendonly
    SendOnly,
    /// a=recvonly
    RecvOnly,
    /// a=inactive
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// One payload format of the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as in rtpmap (`PCMU`, `PCMA`, `telephone-event`).
    pub name: String,
    /// fmtp parameters, if any.
    pub fmtp: Option<String>,
}

impl Format {
    /// Whether this is the RFC 4733 event format.
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }
}

/// The audio part of a session description: what the core needs to relay a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSession {
    /// Connection address and port of the audio stream (port 0 = stream refused).
    pub addr: SocketAddr,
    /// Formats in preference order, restricted to the ones Parley relays.
    pub formats: Vec<Format>,
    /// Direction.
    pub direction: Direction,
    /// Packet time in ms, if given.
    pub ptime: Option<u32>,
}

impl AudioSession {
    /// Parse an SDP body and keep its first audio stream's supported formats.
    pub fn parse(body: &[u8]) -> Result<AudioSession, SdpError> {
        let text =
            std::str::from_utf8(body).map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
        let mut session_ip: Option<IpAddr> = None;
        let mut media_ip: Option<IpAddr> = None;
        let mut in_audio = false;
        let mut seen_audio = false;
        let mut port = 0u16;
        let mut pts: Vec<u8> = Vec::new();
        let mut names: Vec<(u8, String)> = Vec::new();
        let mut fmtps: Vec<(u8, String)> = Vec::new();
        let mut direction = Direction::SendRecv;
        let mut ptime = None;
        let mut saw_version = false;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let Some((kind, value)) = line.split_once('=') else {
                return Err(SdpError::Malformed(format!(
                    "line without '=': {}",
                    clip(line)
                )));
            };
            match kind {
                "v" => saw_version = true,
                "c" => {
                    let ip = parse_connection(value)?;
                    if in_audio {
                        media_ip = Some(ip);
                    } else if !seen_audio {
                        session_ip = Some(ip);
                    }
                }
                "m" => {
                    if seen_audio {
                        in_audio = false;
                        continue;
                    }
                    let mut parts = value.split_whitespace();
                    let media = parts.next().unwrap_or_default();
                    if media != "audio" {
                        in_audio = false;
                        continue;
                    }
                    in_audio = true;
                    seen_audio = true;
                    port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or_else(|| {
                            SdpError::Malformed(format!("bad m= port: {}", clip(value)))
                        })?;
                    let proto = parts.next().unwrap_or_default();
                    if !proto.starts_with("RTP/") {
                        return Err(SdpError::Malformed(format!(
                            "unsupported transport {}",
                            clip(proto)
                        )));
                    }
                    for f in parts {
                        let pt: u8 = f.parse().ok().filter(|p| *p < 128).ok_or_else(|| {
                            SdpError::Malformed(format!("bad payload type {}", clip(f)))
                        })?;
                        pts.push(pt);
                    }
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    if let Some(d) = dir {
                        // A session-level attribute applies until the audio stream sets its own.
                        if in_audio || !seen_audio {
                            direction = d;
                        }
                        continue;
                    }
                    if !in_audio {
                        continue;
                    }
                    match name {
                        "rtpmap" => {
                            let (pt, enc) = arg.split_once(' ').unwrap_or((arg, ""));
                            if let Ok(pt) = pt.parse::<u8>() {
                                let enc_name = enc.split('/').next().unwrap_or_default();
                                let rate = enc.split('/').nth(1).unwrap_or("8000");
                                if rate == "8000" {
                                    names.push((pt, enc_name.to_string()));
                                }
                            }
                        }
                        "fmtp" => {
                            if let Some((pt, p)) = arg.split_once(' ') {
                                if let Ok(pt) = pt.parse::<u8>() {
                                    fmtps.push((pt, p.trim().to_string()));
                                }
                            }
                        }
                        "ptime" => ptime = arg.trim().parse().ok(),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(SdpError::Malformed("no v= line".into()));
        }
        if !seen_audio {
            return Err(SdpError::NoCommonCodec);
        }
        let ip = media_ip
            .or(session_ip)
            .ok_or_else(|| SdpError::Malformed("no c= line".into()))?;
        let mut formats = Vec::new();
        for pt in pts {
            let name = names
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, n)| n.clone())
                .or(match pt {
                    0 => Some("PCMU".to_string()),
                    8 => Some("PCMA".to_string()),
                    _ => None,
                });
            let Some(name) = name else { continue };
            let supported = name.eq_ignore_ascii_case("PCMU")
                || name.eq_ignore_ascii_case("PCMA")
                || name.eq_ignore_ascii_case("telephone-event");
            if supported {
                let fmtp = fmtps.iter().find(|(p, _)| *p == pt).map(|(_, f)| f.clone());
                formats.push(Format { pt, name, fmtp });
            }
        }
        if port != 0 && !formats.iter().any(|f| !f.is_telephone_event()) {
            return Err(SdpError::NoCommonCodec);
        }
        Ok(AudioSession {
            addr: SocketAddr::new(ip, port),
            formats,
            direction,
            ptime,
        })
    }

    /// The first audio (non-event) format.
    pub fn audio_format(&self) -> Option<&Format> {
        self.formats.iter().find(|f| !f.is_telephone_event())
    }

    /// The telephone-event format, if negotiated.
    pub fn event_format(&self) -> Option<&Format> {
        self.formats.iter().find(|f| f.is_telephone_event())
    }

    /// Keep only the formats that also appear (by payload type and name) in `other`, in our order;
    /// empty when no audio codec is common (telephone-event alone is no session).
    pub fn intersect(&self, other: &AudioSession) -> Vec<Format> {
        let common: Vec<Format> = self
            .formats
            .iter()
            .filter(|f| {
                other
                    .formats
                    .iter()
                    .any(|o| o.pt == f.pt && o.name.eq_ignore_ascii_case(&f.name))
            })
            .cloned()
            .collect();
        if common.iter().all(Format::is_telephone_event) {
            return Vec::new();
        }
        common
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

fn parse_connection(value: &str) -> Result<IpAddr, SdpError> {
    let mut parts = value.split_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::Malformed(format!("bad c= line: {}", clip(value))));
    };
    addr.split('/')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| SdpError::Malformed(format!("bad c= address: {}", clip(addr))))
}

/// The session Parley presents on one leg: its own address and port, the given formats and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSdp {
    /// Origin session id (stable for the leg).
    pub session_id: u64,
    /// Origin version (incremented on each change).
    pub version: u64,
    /// Parley's media address.
    pub addr: SocketAddr,
    /// Formats.
    pub formats: Vec<Format>,
    /// Direction.
    pub direction: Direction,
    /// Packet time in ms.
    pub ptime: Option<u32>,
}

impl LocalSdp {
    /// Render as an SDP body.
    pub fn render(&self) -> Vec<u8> {
        let ip = self.addr.ip();
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let mut s = format!(
            "v=0\r\no=parley {} {} IN {family} {ip}\r\ns=parley\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP",
            self.session_id,
            self.version,
            self.addr.port()
        );
        for f in &self.formats {
            s.push_str(&format!(" {}", f.pt));
        }
        s.push_str("\r\n");
        for f in &self.formats {
            s.push_str(&format!("a=rtpmap:{} {}/8000\r\n", f.pt, f.name));
            if let Some(p) = &f.fmtp {
                s.push_str(&format!("a=fmtp:{} {}\r\n", f.pt, p));
            } else if f.is_telephone_event() {
                s.push_str(&format!("a=fmtp:{} 0-16\r\n", f.pt));
            }
        }
        if let Some(p) = self.ptime {
            s.push_str(&format!("a=ptime:{p}\r\n"));
        }
        s.push_str(&format!("a={}\r\n", self.direction.attr()));
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendonly\r\nm=video 5000 RTP/AVP 96\r\n";

    #[test]
    fn offer_keeps_g711_and_telephone_event_only() {
        let s = AudioSession::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(s.addr, "10.0.0.5:4000".parse().unwrap());
        let pts: Vec<u8> = s.formats.iter().map(|f| f.pt).collect();
        assert_eq!(pts, vec![0, 8, 101]);
        assert_eq!(s.direction, Direction::SendOnly);
        assert_eq!(s.ptime, Some(20));
        assert_eq!(s.event_format().unwrap().fmtp.as_deref(), Some("0-15"));
    }

    #[test]
    fn formats_with_only_telephone_event_in_common_are_no_session() {
        // Found by the sdp fuzz target: PT 0 named PCMA on one side, PCMU on the other.
        let a = AudioSession::parse(
            b"v=0\r\nc=IN IP4 10.0.0.5\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        )
        .unwrap();
        let b = AudioSession::parse(OFFER.as_bytes()).unwrap();
        assert!(a.intersect(&b).is_empty());
        assert_eq!(b.intersect(&b).len(), 3);
    }

    #[test]
    fn offer_without_g711_is_refused() {
        let body = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert_eq!(
            AudioSession::parse(body.as_bytes()),
            Err(SdpError::NoCommonCodec)
        );
    }

    #[test]
    fn garbage_sdp_is_malformed() {
        for body in [
            "hello",
            "v=0\r\nm=audio x RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\n",
            "v=0\r\nm=audio 4 RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4 nope\r\nm=audio 4 RTP/AVP 0\r\n",
        ] {
            assert!(
                matches!(
                    AudioSession::parse(body.as_bytes()),
                    Err(SdpError::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn rendered_sdp_parses_back_to_the_same_session() {
        let local = LocalSdp {
            session_id: 7,
            version: 2,
            addr: "192.0.2.1:30000".parse().unwrap(),
            formats: vec![
                Format {
                    pt: 8,
                    name: "PCMA".into(),
                    fmtp: None,
                },
                Format {
                    pt: 101,
                    name: "telephone-event".into(),
                    fmtp: None,
                },
            ],
            direction: Direction::RecvOnly,
            ptime: Some(20),
        };
        let back = AudioSession::parse(&local.render()).unwrap();
        assert_eq!(back.addr, local.addr);
        assert_eq!(back.formats.len(), 2);
        assert_eq!(back.direction, Direction::RecvOnly);
    }
}
