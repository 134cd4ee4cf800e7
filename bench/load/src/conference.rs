//! `parley-bench conference`: participants dial the Conference Center, key each room's ID and
//! password as RFC 4733 events, and stay in their rooms for a duration, sending 50 packets/s of G.711
//! (the first `--talkers` of each room a tone, the others silence) and counting what each receives:
//! packets, sequence gaps (loss) and the longest pause between two packets. Prints one line of totals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::sdp::AudioSession;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{new_branch, recv, split_cred, Dialog};

#[derive(Default)]
struct Totals {
    joined: AtomicU64,
    received: AtomicU64,
    lost: AtomicU64,
    /// The longest pause between two packets any participant saw while measuring, in ms.
    max_gap_ms: AtomicU64,
}

struct Args {
    server: std::net::SocketAddr,
    rooms: Vec<(String, String)>,
    participants: usize,
    talkers: usize,
    duration: Duration,
    base_port: u16,
    caller: (String, String),
    extension: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "127.0.0.1:5060".parse().unwrap(),
        rooms: vec![("480".into(), "480".into())],
        participants: 10,
        talkers: 2,
        duration: Duration::from_secs(10),
        base_port: 25060,
        caller: ("100".into(), "secret100".into()),
        extension: "4081".into(),
    };
    let args: Vec<String> = std::env::args().skip(2).collect();
    for pair in args.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--server" => a.server = v.parse().expect("--server ADDR:PORT"),
            "--rooms" => a.rooms = v.split(',').map(split_cred).collect(),
            "--participants" => a.participants = v.parse().expect("--participants N (per room)"),
            "--talkers" => a.talkers = v.parse().expect("--talkers N (per room)"),
            "--duration" => {
                a.duration = Duration::from_secs_f64(v.parse().expect("--duration SECS"))
            }
            "--base-port" => a.base_port = v.parse().expect("--base-port PORT"),
            "--caller" => a.caller = split_cred(&v),
            "--extension" => a.extension = v,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn sdp(port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n")
}

fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Key `keys` as RFC 4733 events: each digit 60 ms, then its end three times, 100 ms apart.
async fn key(sock: &UdpSocket, to: std::net::SocketAddr, keys: &str, seq: &mut u16, ts: &mut u32) {
    let ssrc = 0x0b3c_0001;
    for k in keys.chars() {
        let event = match k {
            '0'..='9' => k as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => continue,
        };
        for (i, (end, duration)) in [
            (false, 160u16),
            (false, 320),
            (false, 480),
            (true, 640),
            (true, 640),
            (true, 640),
        ]
        .into_iter()
        .enumerate()
        {
            let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
            payload.extend_from_slice(&duration.to_be_bytes());
            let _ = sock
                .send_to(&rtp(101, i == 0, *seq, *ts, ssrc, &payload), to)
                .await;
            *seq = seq.wrapping_add(1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *ts = ts.wrapping_add(1600);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn participant(
    i: usize,
    room: (String, String),
    talker: bool,
    args: Arc<Args>,
    sip: Arc<UdpSocket>,
    local: std::net::SocketAddr,
    routes: super::Routes,
    measure: (Instant, Instant),
    totals: Arc<Totals>,
) -> Option<()> {
    let server = args.server;
    let (au, ap) = args.caller.clone();
    let cid = format!("conf{i}-{}@bench", rand::random::<u32>());
    let (tx, mut rx) = mpsc::unbounded_channel();
    routes.lock().await.insert(cid.clone(), tx);
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.ok()?);
    let body = sdp(sock.local_addr().ok()?.port());
    let uri = format!("sip:{}@{server}", args.extension);
    let mut dlg = Dialog {
        uri: uri.clone(),
        local,
        from: format!("<sip:{au}@{}>;tag=c{i}", server.ip()),
        to: format!("<sip:{}@{}>", args.extension, server.ip()),
        call_id: cid,
    };
    let ok = super::invite(&sip, server, &mut dlg, &body, (&au, &ap), &mut rx).await?;
    let media = AudioSession::parse(&ok.body).ok()?.addr;
    // What Parley sends: counted from the start of the measuring window.
    let r = sock.clone();
    let t = totals.clone();
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut last: Option<(u16, Instant)> = None;
        while let Ok((n, _)) = r.recv_from(&mut buf).await {
            let now = Instant::now();
            if n < 12 || now < measure.0 || now > measure.1 {
                continue;
            }
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            t.received.fetch_add(1, Ordering::Relaxed);
            if let Some((prev, at)) = last {
                let missing = seq.wrapping_sub(prev).wrapping_sub(1);
                if missing < 1000 {
                    t.lost.fetch_add(u64::from(missing), Ordering::Relaxed);
                }
                let gap = now.duration_since(at).as_millis() as u64;
                t.max_gap_ms.fetch_max(gap, Ordering::Relaxed);
            }
            last = Some((seq, now));
        }
    });
    let (mut seq, mut ts) = (rand::random::<u16>(), rand::random::<u32>());
    tokio::time::sleep(Duration::from_millis(300)).await;
    key(
        &sock,
        media,
        &format!("{}#{}#", room.0, room.1),
        &mut seq,
        &mut ts,
    )
    .await;
    totals.joined.fetch_add(1, Ordering::Relaxed);
    // Audio until the window ends: a 500 Hz tone (µ-law of a square-ish wave) or silence.
    let ssrc = rand::random::<u32>();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut frame = [0xffu8; 160];
    if talker {
        for (k, b) in frame.iter_mut().enumerate() {
            *b = if (k / 8) % 2 == 0 { 0x9f } else { 0x1f };
        }
    }
    while Instant::now() < measure.1 {
        tick.tick().await;
        ts = ts.wrapping_add(160);
        let _ = sock
            .send_to(&rtp(0, false, seq, ts, ssrc, &frame), media)
            .await;
        seq = seq.wrapping_add(1);
    }
    receiver.abort();
    sip.send_to(&dlg.request(&new_branch(), "BYE", 3, "", ""), server)
        .await
        .ok();
    let _ = recv(&mut rx).await;
    Some(())
}

/// The `conference` mode.
pub async fn run() {
    let args = Arc::new(parse_args());
    let local: std::net::SocketAddr = format!("127.0.0.1:{}", args.base_port).parse().unwrap();
    let sip = Arc::new(UdpSocket::bind(local).await.expect("bind SIP"));
    let routes: super::Routes = Default::default();
    super::route_responses(sip.clone(), routes.clone());
    // Joining takes the keys (about 2 s) and the "you will now be placed into the conference" prompt:
    // everyone is in after 8 s; the window is measured from then.
    let start = Instant::now();
    let measure = (
        start + Duration::from_secs(9),
        start + Duration::from_secs(9) + args.duration,
    );
    let totals = Arc::new(Totals::default());
    let mut tasks = Vec::new();
    let mut i = 0;
    for room in &args.rooms {
        for p in 0..args.participants {
            tasks.push(tokio::spawn(participant(
                i,
                room.clone(),
                p < args.talkers,
                args.clone(),
                sip.clone(),
                local,
                routes.clone(),
                measure,
                totals.clone(),
            )));
            i += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut ok = 0;
    for t in tasks {
        if let Ok(Some(())) = t.await {
            ok += 1;
        }
    }
    let expected = (args.duration.as_millis() / 20) as u64 * i as u64;
    let (received, lost) = (
        totals.received.load(Ordering::Relaxed),
        totals.lost.load(Ordering::Relaxed),
    );
    println!(
        "participants={i} completed={ok} received={received} expected={expected} lost={lost} loss_pct={:.4} max_gap_ms={}",
        100.0 * lost as f64 / (received + lost).max(1) as f64,
        totals.max_gap_ms.load(Ordering::Relaxed)
    );
}
