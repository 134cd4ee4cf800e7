#!/usr/bin/env python3
"""Writes the starting corpus of every fuzz target into fuzz/corpus/<target>/ (run once; the fuzzer
grows its own copy from there). Seeds are small, valid examples of what each parser meets on the wire."""
import hashlib
import math
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"

SDP = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
       b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")


def sip(first, headers, body=b""):
    text = first + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + f"Content-Length: {len(body)}\r\n\r\n"
    return text.encode() + body


BASE = [("Via", "SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bK776asdhds;rport"), ("Max-Forwards", "70"),
        ("From", "\"Bob\" <sip:101@parley>;tag=1928301774"), ("To", "<sip:100@parley>"),
        ("Call-ID", "a84b4c76e66710@pc33"), ("CSeq", "314159 INVITE"), ("Contact", "<sip:101@192.0.2.9:5062>")]
AUTH = ('Digest username="101", realm="parley", nonce="6b0f2f0b.93303585e2f0b04f.f0b4acec83cb26c8b40bb93a107dd2ca", '
        'uri="sip:100@parley", response="08f22376c440feec85cbf74a0f00cb6f", algorithm=MD5, qop=auth, '
        'nc=0000000a, cnonce="6b8b4567"')

SEEDS = {
    "sip_message": [
        sip("INVITE sip:100@parley SIP/2.0", BASE + [("Content-Type", "application/sdp"),
                                                     ("Proxy-Authorization", AUTH)], SDP),
        sip("REGISTER sip:parley SIP/2.0", [(k, v.replace("INVITE", "REGISTER")) for k, v in BASE]
            + [("Expires", "3600"), ("Authorization", AUTH)]),
        sip("INVITE sip:*86@parley;target=sip:101%40pbx;cause=486 SIP/2.0", BASE
            + [("History-Info", "<sip:101@pbx?Reason=SIP%3Bcause%3D486>;index=1"),
               ("Diversion", "<sip:101@pbx>;reason=user-busy;counter=1")]),
        sip("SUBSCRIBE sip:101@parley SIP/2.0", [(k, v.replace("INVITE", "SUBSCRIBE")) for k, v in BASE]
            + [("Event", "message-summary"), ("Expires", "3600")]),
        sip("SIP/2.0 200 OK", BASE + [("Content-Type", "application/sdp")], SDP),
        b"OPTIONS sip:parley SIP/2.0\r\nv: SIP/2.0/TCP host;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: sip:c@d\r\n"
        b"i: x\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
    ],
    "sip_uri": [b"sip:alice@192.0.2.9:5062;transport=tcp;lr?subject=x", b"sips:[2001:db8::1]:5061",
                b"tel:+15551234;phone-context=x", b"sip:*86@parley;target=101;cause=486"],
    "sdp": [SDP, SDP.replace(b"sendrecv", b"inactive").replace(b"192.0.2.9", b"0.0.0.0"),
            b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 2001:db8::9\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n"],
    "digest": [AUTH.encode(), b'Digest username="a", nonce="n", response="r"',
               b'Digest username="100",realm="parley",nonce="1.2.3",uri="sip:parley",response="x",qop=auth,nc=00000001,cnonce="c"'],
    "divert": [b";target=101;cause=486\n<sip:101@pbx?Reason=SIP%3Bcause%3D486>;index=1\n<sip:101@pbx>;reason=no-answer",
               b"\n<sip:100@pbx>;index=1\n<sip:101@pbx;cause=408>;index=1.1"],
    "callisto_params": [b"gr_name=groupName&gr_welcome=Welcome.wav&gr_ringParallel=1&gr_number=5555&gr_overflow=4321"
                        b"&gr_callerName=%25managerShortName%25**%25callerName%25",
                        b"me_number=101&me_type=1&me_mngTimeout=10", b"vi_number=5551234&vi_name=Boss",
                        b"an_wave=x.wav&an_priority=2"],
}
SEEDS["registrar"] = [SEEDS["sip_message"][1],
                      sip("REGISTER sip:parley SIP/2.0", [(k, v.replace("INVITE", "REGISTER")) for k, v in BASE]
                          + [("To", "<sip:100@parley>"), ("Contact", "*"), ("Expires", "0")])]


def rtp(seq, ts, pt, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 0x1234) + payload


tone = bytes((int(60 * math.sin(i / 3)) & 0xFF) for i in range(160))
SEEDS["rtp"] = [rtp(1, 160, 0, tone, True) + rtp(2, 320, 8, tone) + rtp(4, 640, 0, tone)]
# The mixer's target: op bytes (low 2 bits + 0..3: a packet of the length that follows, for the participant
# in bits 4-5), 4 a tick, 5 a departure, 6 an arrival, 7 a chime.
SEEDS["mixer"] = [b"".join(bytes([0x10 * (i % 3), 172]) + rtp(i, 160 * i, 0, tone) + b"\x04" for i in range(8))]
SEEDS["rfc4733"] = [b"".join(rtp(10 + i, 8000, 101, struct.pack("!BBH", 5, (0x80 if i > 3 else 0) | 10, 160 * (i + 1)))
                             for i in range(6))]
SEEDS["rtcp"] = [struct.pack("!BBHI", 0x81, 201, 7, 0x1234) + struct.pack("!IIIIII", 0x5678, 0x01000002, 100, 3, 4, 5)
                 + struct.pack("!BBHI", 0x81, 202, 3, 0x1234) + b"\x01\x04abcd\x00\x00\x00"]


def wav(rate, channels, samples):
    data = b"".join(struct.pack("<h", int(8000 * math.sin(i / 5))) * channels for i in range(samples))
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" \
        + struct.pack("<I", len(data)) + data


SEEDS["dialplan"] = [b"95855550123", b"9011442079460123", b"+4930123456", b"911", b"9911", b"0030123456",
                     b"99005550123", b"101", b"*97", b"*6795855550123", b"*67911"]
SEEDS["routing"] = [
    b'{"presence":"away","routes":{"away":{"attempts":[{"destinations":[{"type":"handsets"},{"type":"extension","extension":"102"}],"ring_secs":20}],"finally":{"type":"number","extension":"+15855550199"}}},"on_busy":{},"callers":{"away":[{"caller":{"type":"external","value":"585*"},"route":{"attempts":[],"finally":{"type":"voicemail"}}}]}}',
    b"+1 (585) 555-0199", b"102", b"585*", b"*",
]
SEEDS["trunk_settings"] = [b"+1585,+44", b"pcmu,PCMA", b"any", b"sip.carrier.example", b"[2001:db8::1]:5062",
                           b"10.0.0.1:5080", b"4930123456", b"carrier-1.main_b"]
SEEDS["wav_header"] = [wav(8000, 1, 400), wav(16000, 2, 200)]
SEEDS["convert"] = [wav(8000, 1, 2000), wav(16000, 2, 1600), wav(44100, 1, 4410)]

for target, seeds in SEEDS.items():
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
    print(target, len(seeds))
