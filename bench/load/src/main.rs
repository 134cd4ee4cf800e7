//! `parley-bench media`: registers a callee, places N authenticated calls through Parley (its own small
//! UA built on parley-core's SIP types and digest), answers them, and streams 50 packets/s of G.711 each
//! way per call for a duration; then hangs up and prints per-leg packet counts, loss, setup latency.
//! `parley-bench conference` fills conference rooms (see `conference.rs`).
//! `parley-bench echo` streams the same packets at the same rate to the C echo reference
//! (`bench/echo/echo.c`), one stream per echo socket, so that bench/run can divide Parley's CPU per
//! relayed packet by the echo's in the same run.
//! It is a measuring instrument for bench/run, not part of Parley.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::sdp::AudioSession;
use parley_core::sip::digest::{ha1, Algorithm};
use parley_core::sip::{Message, Method, Response, StatusCode};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};

mod conference;

#[derive(Default)]
struct Counters {
    a_sent: AtomicU64,
    a_recv: AtomicU64,
    b_sent: AtomicU64,
    b_recv: AtomicU64,
}

impl Counters {
    /// Sent and received on the A side, then on the B side.
    fn snapshot(&self) -> (u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.a_sent),
            get(&self.a_recv),
            get(&self.b_sent),
            get(&self.b_recv),
        )
    }
}

struct Args {
    server: SocketAddr,
    calls: usize,
    duration: Duration,
    rate: f64,
    base_port: u16,
    caller: (String, String),
    callee: (String, String),
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "127.0.0.1:5060".parse().unwrap(),
        calls: 10,
        duration: Duration::from_secs(10),
        rate: 50.0,
        base_port: 25060,
        caller: ("100".into(), "secret100".into()),
        callee: ("101".into(), "secret101".into()),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "media" => {
                i += 1;
                continue;
            }
            "--server" => a.server = v.parse().expect("--server ADDR:PORT"),
            "--calls" => a.calls = v.parse().expect("--calls N"),
            "--duration" => {
                a.duration = Duration::from_secs_f64(v.parse().expect("--duration SECS"))
            }
            "--rate" => a.rate = v.parse().expect("--rate CALLS_PER_SEC"),
            "--base-port" => a.base_port = v.parse().expect("--base-port PORT"),
            "--caller" => a.caller = split_cred(&v),
            "--callee" => a.callee = split_cred(&v),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn split_cred(v: &str) -> (String, String) {
    let (u, p) = v.split_once(':').expect("EXT:PASSWORD");
    (u.to_string(), p.to_string())
}

fn param(challenge: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    challenge
        .find(&key)
        .map(|i| &challenge[i + key.len()..])
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string()
}

fn authorization(
    header: &str,
    method: &str,
    uri: &str,
    user: &str,
    pw: &str,
    challenge: &str,
) -> String {
    let (realm, nonce) = (param(challenge, "realm"), param(challenge, "nonce"));
    let alg = Algorithm::Md5;
    let h1 = ha1(alg, user, &realm, pw);
    let h2 = alg.hash_hex(format!("{method}:{uri}").as_bytes());
    let cnonce = format!("{:x}", rand::random::<u32>());
    let resp = alg.hash_hex(format!("{h1}:{nonce}:00000001:{cnonce}:auth:{h2}").as_bytes());
    format!("{header}: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n")
}

fn sdp(port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
}

fn new_branch() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// The fixed parts of one dialog's requests.
#[derive(Clone)]
struct Dialog {
    uri: String,
    local: SocketAddr,
    from: String,
    to: String,
    call_id: String,
}

impl Dialog {
    /// A request; an ACK for a non-2xx final must reuse its INVITE's `branch`.
    fn request(&self, branch: &str, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
        let Dialog {
            uri,
            local,
            from,
            to,
            call_id,
        } = self;
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:bench@{local}>\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

async fn rtp_leg(
    sock: Arc<UdpSocket>,
    dest: SocketAddr,
    until: Instant,
    total: &'static Counters,
    a_side: bool,
) {
    let r = sock.clone();
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = r.recv_from(&mut buf).await {
            if n >= 12 {
                if a_side {
                    total.a_recv.fetch_add(1, Ordering::Relaxed);
                } else {
                    total.b_recv.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let ssrc: u32 = rand::random();
    let mut pkt = vec![0xffu8; 172];
    pkt[0] = 0x80;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut seq: u16 = 0;
    let mut ts: u32 = 0;
    while Instant::now() < until {
        tick.tick().await;
        pkt[1] = 0;
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&ts.to_be_bytes());
        pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
        if sock.send_to(&pkt, dest).await.is_ok() {
            if a_side {
                total.a_sent.fetch_add(1, Ordering::Relaxed);
            } else {
                total.b_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
    }
    // Let the last packets arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.abort();
}

/// INVITE through Parley with digest: the first INVITE, its 407 ACKed, the INVITE again with
/// credentials, then its final answer: the 200 (the dialog's To tag taken and ACKed), else `None`.
async fn invite(
    sip: &UdpSocket,
    server: SocketAddr,
    dlg: &mut Dialog,
    body: &str,
    (user, password): (&str, &str),
    rx: &mut mpsc::UnboundedReceiver<Response>,
) -> Option<Response> {
    let branch = new_branch();
    sip.send_to(&dlg.request(&branch, "INVITE", 1, "", body), server)
        .await
        .ok();
    let mut challenge = None;
    while let Some(r) = recv(rx).await {
        if r.status == 407 {
            challenge = r.headers.get("Proxy-Authenticate").map(str::to_string);
            let to = r.headers.get("To").unwrap_or_default().to_string();
            let ack = Dialog { to, ..dlg.clone() }.request(&branch, "ACK", 1, "", "");
            sip.send_to(&ack, server).await.ok();
            break;
        }
    }
    let auth = authorization(
        "Proxy-Authorization",
        "INVITE",
        &dlg.uri,
        user,
        password,
        &challenge?,
    );
    sip.send_to(
        &dlg.request(&new_branch(), "INVITE", 2, &auth, body),
        server,
    )
    .await
    .ok();
    let ok = loop {
        let r = recv(rx).await?;
        if r.status >= 200 {
            break r;
        }
    };
    if ok.status != 200 {
        return None;
    }
    dlg.to = ok.headers.get("To").unwrap_or_default().to_string();
    sip.send_to(&dlg.request(&new_branch(), "ACK", 2, "", ""), server)
        .await
        .ok();
    Some(ok)
}

/// Where each call's responses go, by Call-ID.
type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>>;

/// Route the responses arriving at `sip` to their calls' tasks, and answer any request but ACK with
/// 200 (Parley's BYE of a call it ended).
fn route_responses(sip: Arc<UdpSocket>, routes: Routes) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, src)) = sip.recv_from(&mut buf).await {
            match Message::parse(&buf[..n]) {
                Ok(Message::Response(r)) => {
                    let call_id = r.headers.get("Call-ID").unwrap_or_default();
                    if let Some(tx) = routes.lock().await.get(call_id) {
                        let _ = tx.send(r);
                    }
                }
                Ok(Message::Request(req)) if req.method != Method::Ack => {
                    let ok = Response::to_request(&req, StatusCode::OK, None);
                    let _ = sip.send_to(&ok.to_bytes(), src).await;
                }
                _ => {}
            }
        }
    });
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<Response>) -> Option<Response> {
    tokio::time::timeout(Duration::from_secs(8), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::main]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("conference") => return conference::run().await,
        Some("echo") => return echo().await,
        _ => {}
    }
    let args = parse_args();
    let total: &'static Counters = Box::leak(Box::default());
    let server = args.server;
    // Callee: register, then answer every INVITE with its own RTP socket.
    let b_local: SocketAddr = format!("127.0.0.1:{}", args.base_port).parse().unwrap();
    let b_sip = Arc::new(UdpSocket::bind(b_local).await.expect("bind callee SIP"));
    let (cu, cp) = args.callee.clone();
    let reg_uri = format!("sip:{server}");
    let from = format!("<sip:{cu}@{}>;tag=b{}", server.ip(), rand::random::<u32>());
    let to = format!("<sip:{cu}@{}>", server.ip());
    let reg = Dialog {
        uri: reg_uri.clone(),
        local: b_local,
        from,
        to,
        call_id: format!("reg{}@bench", rand::random::<u32>()),
    };
    b_sip
        .send_to(
            &reg.request(&new_branch(), "REGISTER", 1, "Expires: 600\r\n", ""),
            server,
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let chal = loop {
        let (n, _) = b_sip.recv_from(&mut buf).await.unwrap();
        if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
            if r.status == 401 {
                break r
                    .headers
                    .get("WWW-Authenticate")
                    .unwrap_or_default()
                    .to_string();
            }
        }
    };
    let auth = authorization("Authorization", "REGISTER", &reg_uri, &cu, &cp, &chal);
    b_sip
        .send_to(
            &reg.request(
                &new_branch(),
                "REGISTER",
                2,
                &format!("Expires: 600\r\n{auth}"),
                "",
            ),
            server,
        )
        .await
        .unwrap();
    loop {
        let (n, _) = b_sip.recv_from(&mut buf).await.unwrap();
        if let Ok(Message::Response(r)) = Message::parse(&buf[..n]) {
            assert_eq!(r.status, 200, "callee registration failed");
            break;
        }
    }
    let until = Arc::new(Mutex::new(None::<Instant>));
    let answered: Arc<Mutex<HashMap<String, Vec<u8>>>> = Default::default();
    {
        let b_sip = b_sip.clone();
        let answered = answered.clone();
        let until = until.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, src)) = b_sip.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(Message::Request(req)) = Message::parse(&buf[..n]) else {
                    continue;
                };
                match req.method {
                    Method::Invite => {
                        let cid = req.call_id().to_string();
                        let mut cache = answered.lock().await;
                        if let Some(resp) = cache.get(&cid) {
                            let _ = b_sip.send_to(resp, src).await;
                            continue;
                        }
                        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                        let port = sock.local_addr().unwrap().port();
                        let relay = AudioSession::parse(&req.body).map(|s| s.addr).unwrap();
                        let mut resp = Response::to_request(&req, StatusCode::OK, Some("callee"));
                        resp.headers
                            .push("Contact", &format!("<sip:{cu}@{b_local}>"));
                        resp.headers.push("Content-Type", "application/sdp");
                        resp.body = sdp(port).into_bytes();
                        let bytes = resp.to_bytes();
                        let _ = b_sip.send_to(&bytes, src).await;
                        cache.insert(cid, bytes);
                        let end = until
                            .lock()
                            .await
                            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                        tokio::spawn(rtp_leg(sock, relay, end, total, false));
                    }
                    Method::Bye | Method::Options => {
                        let _ = b_sip
                            .send_to(
                                &Response::to_request(&req, StatusCode::OK, None).to_bytes(),
                                src,
                            )
                            .await;
                    }
                    _ => {}
                }
            }
        });
    }
    // Caller: one dispatcher routes responses by Call-ID to the call's task.
    let a_local: SocketAddr = format!("127.0.0.1:{}", args.base_port + 1).parse().unwrap();
    let a_sip = Arc::new(UdpSocket::bind(a_local).await.expect("bind caller SIP"));
    let routes: Routes = Default::default();
    route_responses(a_sip.clone(), routes.clone());
    let start = Instant::now();
    let ramp = Duration::from_secs_f64(args.calls as f64 / args.rate);
    *until.lock().await = Some(start + ramp + args.duration);
    let end = start + ramp + args.duration;
    let latencies: Arc<Mutex<Vec<Duration>>> = Default::default();
    let mut tasks = Vec::new();
    let (au, ap) = args.caller.clone();
    let callee_ext = args.callee.0.clone();
    for i in 0..args.calls {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / args.rate)).into())
            .await;
        let (a_sip, routes, latencies, au, ap, callee_ext) = (
            a_sip.clone(),
            routes.clone(),
            latencies.clone(),
            au.clone(),
            ap.clone(),
            callee_ext.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let cid = format!("call{i}-{}@bench", rand::random::<u32>());
            let (tx, mut rx) = mpsc::unbounded_channel();
            routes.lock().await.insert(cid.clone(), tx);
            let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let body = sdp(sock.local_addr().unwrap().port());
            let uri = format!("sip:{callee_ext}@{server}");
            let from = format!("<sip:{au}@{}>;tag=a{i}", server.ip());
            let to = format!("<sip:{callee_ext}@{}>", server.ip());
            let mut dlg = Dialog {
                uri: uri.clone(),
                local: a_local,
                from,
                to,
                call_id: cid.clone(),
            };
            let t0 = Instant::now();
            let ok = invite(&a_sip, server, &mut dlg, &body, (&au, &ap), &mut rx).await?;
            latencies.lock().await.push(t0.elapsed());
            let relay = AudioSession::parse(&ok.body).ok()?.addr;
            rtp_leg(sock, relay, end, total, true).await;
            a_sip
                .send_to(&dlg.request(&new_branch(), "BYE", 3, "", ""), server)
                .await
                .ok();
            let _ = recv(&mut rx).await;
            Some(())
        }));
    }
    let mut established = 0;
    for t in tasks {
        if let Ok(Some(())) = t.await {
            established += 1;
        }
    }
    let mut lat = latencies.lock().await.clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let (a_sent, a_recv, b_sent, b_recv) = total.snapshot();
    println!(
        "calls_requested={} calls_established={established}",
        args.calls
    );
    println!("setup_ms_p50={:.2} setup_ms_p99={:.2}", pct(0.5), pct(0.99));
    println!(
        "caller_to_callee sent={a_sent} received={b_recv} loss_pct={:.4}",
        loss(a_sent, b_recv)
    );
    println!(
        "callee_to_caller sent={b_sent} received={a_recv} loss_pct={:.4}",
        loss(b_sent, a_recv)
    );
    println!("relayed_packets={}", a_recv + b_recv);
}

/// `parley-bench echo --server 127.0.0.1:BASE --streams N --duration SECS`: N streams of 50 packets/s,
/// stream i to port BASE+i of the echo, each counting what comes back; printed as the media phase
/// prints (even streams as "caller_to_callee", odd as "callee_to_caller").
async fn echo() {
    let (mut base, mut streams, mut secs) = ("127.0.0.1:40000".to_string(), 10usize, 5.0f64);
    let args: Vec<String> = std::env::args().skip(2).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--server" => base = v,
            "--streams" => streams = v.parse().expect("--streams N"),
            "--duration" => secs = v.parse().expect("--duration SECS"),
            other => panic!("unknown argument {other}"),
        }
    }
    let base: SocketAddr = base.parse().expect("--server ADDR:PORT");
    let total: &'static Counters = Box::leak(Box::default());
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for i in 0..streams {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
        let dest = SocketAddr::new(base.ip(), base.port() + i as u16);
        tasks.push(tokio::spawn(rtp_leg(sock, dest, until, total, i % 2 == 0)));
        // Spread the streams' ticks over the 20 ms period, as calls set up one by one would be.
        tokio::time::sleep(Duration::from_micros(20_000 / streams.max(1) as u64)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    let (a_sent, a_recv, b_sent, b_recv) = total.snapshot();
    println!(
        "caller_to_callee sent={a_sent} received={a_recv} loss_pct={:.4}",
        loss(a_sent, a_recv)
    );
    println!(
        "callee_to_caller sent={b_sent} received={b_recv} loss_pct={:.4}",
        loss(b_sent, b_recv)
    );
    println!("relayed_packets={}", a_recv + b_recv);
}

/// Percent of `sent` that never arrived.
fn loss(sent: u64, recv: u64) -> f64 {
    if sent == 0 {
        100.0
    } else {
        100.0 * (sent.saturating_sub(recv)) as f64 / sent as f64
    }
}
