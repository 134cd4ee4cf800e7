"""The attacker's tests: a stranger on the network against the real binary on 127.0.0.1. Sprayed RTP is
neither heard nor answered (relay and Parley's own media end), a forged Via cannot redirect a lockout, a
captured Authorization does not work twice, a hostile header does not end the server, upload bombs are
refused with memory staying bounded, and a mailbox without a PIN is not opened from *98."""
import socket
import subprocess
import struct
import threading
import time

from peers import Baresip, dominant_frequency, goertzel, read_wav, rtp, tone_frame
from sipclient import Client, header
from test_json_api import call as http
from test_voicemail import wait_for
from vmhelp import own_lines

STRANGER_HZ = 1700


class Stranger:
    """Another host (127.0.0.2: loopback, but not the phones' address) whose socket sprays every port of
    Parley's RTP range with a 1700 Hz tone and RFC 4733 key presses for `keys` (payload type 101); it
    counts whatever comes back."""

    def __init__(self, rtp_range, keys=""):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.2", 0))
        self.sock.setblocking(False)
        self.ports = list(range(rtp_range[0], rtp_range[1] + 1))
        self.keys = keys
        self.received = 0
        self.sent = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def packets(self, n):
        frames = [rtp(n, n * 160, 0, tone_frame(STRANGER_HZ, n), marker=n == 0)]
        if self.keys:
            key = self.keys[(n // 10) % len(self.keys)]
            event = {"*": 10, "#": 11}.get(key, None)
            event = int(key) if event is None else event
            end = 0x80 if n % 10 >= 7 else 0
            frames.append(rtp(n, (n // 10) * 1600, 101, struct.pack("!BBH", event, end | 10, (n % 10 + 1) * 160),
                              marker=n % 10 == 0))
        return frames

    def run(self):
        n = 0
        while not self.stop_flag.is_set():
            for pkt in self.packets(n):
                for port in self.ports:
                    try:
                        self.sock.sendto(pkt, ("127.0.0.1", port))
                        self.sent += 1
                    except OSError:
                        pass
            while True:
                try:
                    self.sock.recv(2048)
                    self.received += 1
                except (BlockingIOError, OSError):
                    break
            n += 1
            time.sleep(0.02)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(5)
        self.sock.close()


def two_phones(parley_factory, tmp_path, **config):
    """A started Parley with extensions 100 and 101, each a baresip phone (440 Hz and 1000 Hz tones)."""
    p = parley_factory(**config)
    p.add_user("100", "secret100")
    p.add_user("101", "secret101")
    p.start()
    a = Baresip(tmp_path, "a", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440)
    b = Baresip(tmp_path, "b", p.sip_port + 12, p.sip_port + 15, p.sip_port, "101", "secret101", 1000)
    return p, a, b


def stranger_share(path):
    """How much of a recording's energy is the stranger's tone, against the loudest candidate."""
    samples, rate = read_wav(path)
    middle = samples[len(samples) // 4: len(samples) * 3 // 4]
    freq, share = dominant_frequency(middle, rate)
    own = goertzel(middle, rate, freq)
    return freq, share, goertzel(middle, rate, STRANGER_HZ) / max(own, 1e-9)


def test_a_stranger_spraying_the_rtp_range_is_not_heard_and_hears_nothing(parley_factory, tmp_path):
    p, a, b = two_phones(parley_factory, tmp_path)
    stranger = None
    try:
        wait_for(lambda: len(p.status()["registrations"]) == 2, what="registrations")
        # The stranger sprays before the call starts and all through it.
        stranger = Stranger(p.rtp).start()
        time.sleep(0.5)
        a.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        a.wait_event("CALL_ESTABLISHED")
        b.wait_event("CALL_ESTABLISHED")
        a.drain(4.0)
        calls = p.status()["calls"]
        assert len(calls) == 1 and calls[0]["packets_from_strangers"] > 100, calls
        assert calls[0]["packets_a_to_b"] > 100 and calls[0]["packets_b_to_a"] > 100, calls
        a.send("hangup")
        b.wait_event("CALL_CLOSED")
        a.wait_event("CALL_CLOSED")
        b.drain(0.5)
    finally:
        if stranger:
            stranger.stop()
        a.stop()
        b.stop()
    assert stranger.sent > 10000
    assert stranger.received == 0, "the relay sent media to a stranger"
    # Each phone hears the other's tone, and of the stranger's 1700 Hz nothing.
    fb, share_b, leak_b = stranger_share(b.recordings("dec")[-1])
    fa, share_a, leak_a = stranger_share(a.recordings("dec")[-1])
    assert abs(fb - 440) <= 10 and share_b > 0.5 and leak_b < 0.01, (fb, share_b, leak_b)
    assert abs(fa - 1000) <= 10 and share_a > 0.5 and leak_a < 0.01, (fa, share_a, leak_a)


def test_a_stranger_neither_hears_a_mailbox_session_nor_types_its_pin(parley_factory, tmp_path):
    p = parley_factory()
    p.add_user("101", "secret101")
    p.start()
    p.cli("user", "set", "101", "--pin", "2580")
    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440)
    stranger = None
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        stranger = Stranger(p.rtp, keys="2580#").start()
        owner.send("dial", f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.wait_event("CALL_ESTABLISHED")
        owner.drain(6.0)  # the owner says nothing; the stranger types the PIN over and over
        vm = p.status()["voicemail"]
        assert len(vm) == 1 and vm[0]["packets_from_strangers"] > 100, vm
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED")
    finally:
        if stranger:
            stranger.stop()
        owner.stop()
    assert stranger.received == 0, "prompt audio reached a stranger"
    assert "mailbox login" not in own_lines(p.log.read_text()), "a stranger's keys reached the mailbox menu"


def test_a_forged_received_in_the_via_locks_out_only_the_real_sender(parley_factory):
    p = parley_factory(auth_max_failures=10)
    p.add_user("100", "secret100")
    p.start()
    c = Client(p.sip_port, p.sip_port + 2)
    uri = f"sip:127.0.0.1:{p.sip_port}"
    forged = ";received=10.66.66.66"
    for _ in range(10):
        status, h = c.request("REGISTER", uri, "100", extra="Expires: 60\r\n", via_params=forged)
        assert status == 401, status  # the answer comes back to the real sender, not to 10.66.66.66
        status, _ = c.authorized("REGISTER", uri, "100", "wrong", header(h, "WWW-Authenticate")[0],
                                 extra="Expires: 60\r\n", via_params=forged)
        assert status == 403
    locks = [lk["what"] for lk in p.status()["lockouts"]]
    assert "address 127.0.0.1" in locks, locks
    assert not any("10.66.66.66" in lk for lk in locks), locks


def test_a_captured_authorization_replayed_from_elsewhere_gets_401_and_the_binding_stays(parley_factory):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.start()
    phone = Client(p.sip_port, p.sip_port + 2)
    uri = f"sip:127.0.0.1:{p.sip_port}"
    status, h = phone.request("REGISTER", uri, "100", extra="Expires: 300\r\n")
    status, _ = phone.authorized("REGISTER", uri, "100", "secret100", header(h, "WWW-Authenticate")[0],
                                 extra="Expires: 300\r\n")
    assert status == 200
    captured = phone.last_auth
    [reg] = p.status()["registrations"]
    # The attacker sends the captured header from another port, in a new dialog, with its own Contact.
    attacker = Client(p.sip_port, p.sip_port + 3)
    status, h = attacker.request("REGISTER", uri, "100", extra="Expires: 300\r\n" + captured)
    assert status == 401 and "stale=true" in header(h, "WWW-Authenticate")[0], (status, h)
    assert [r["source"] for r in p.status()["registrations"]] == [reg["source"]]
    assert reg["source"].endswith(f":{p.sip_port + 2}")


def test_a_percent_before_a_multibyte_character_does_not_end_the_server(parley_factory, tmp_path):
    p, a, b = two_phones(parley_factory, tmp_path, voicemail_pbx_peers=["127.0.0.1"])
    try:
        wait_for(lambda: len(p.status()["registrations"]) == 2, what="registrations")
        a.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        b.wait_event("CALL_ESTABLISHED")
        # Media flows before the attack (a phone may start sending a moment after the answer).
        before = wait_for(lambda: p.status()["calls"][0]["packets_a_to_b"], what="media before the attack")
        # A trusted PBX's INVITE to the pilot whose headers hold "%€" (and a raw one in the URI).
        pbx = Client(p.sip_port, p.sip_port + 2)
        sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        for extra in ["History-Info: <sip:555@pbx?Reason=SIP%3Bcause%3D486%\u20ac>;index=1\r\n",
                      "Diversion: <sip:%\u20ac@pbx>;reason=user-busy\r\n"]:
            status, _ = pbx.request("INVITE", f"sip:*86@127.0.0.1:{p.sip_port}", "pbx", to_user="*86",
                                    body=sdp, extra=extra + "Content-Type: application/sdp\r\n")
            while status is not None and status < 200:
                status, _ = pbx.recv(5)
            assert status is not None and status >= 400, status  # an answer: no such mailbox
        status, _ = pbx.request("INVITE", f"sip:*86@127.0.0.1:{p.sip_port};target=%\u20ac", "pbx", to_user="*86",
                                body=sdp, extra="Content-Type: application/sdp\r\n")
        while status is not None and status < 200:
            status, _ = pbx.recv(5)
        assert status is not None and status >= 400, status
        # The call in progress goes on, and its media still flows.
        # (Polled, not sampled once: a loaded machine may deliver 50 packets a second in bursts.)
        def still_flowing():
            calls = p.status()["calls"]
            return len(calls) == 1 and calls[0]["packets_a_to_b"] > before + 20

        wait_for(still_flowing, secs=10, what="one call whose media still flows after the attack")
        a.send("hangup")
        b.wait_event("CALL_CLOSED")
    finally:
        a.stop()
        b.stop()
    assert p.proc.poll() is None
    assert "faulted" not in p.log.read_text()


def test_a_stranger_who_knows_the_call_id_can_neither_end_nor_redirect_the_call(parley_factory, tmp_path):
    import re
    p, a, b = two_phones(parley_factory, tmp_path)
    try:
        wait_for(lambda: len(p.status()["registrations"]) == 2, what="registrations")
        a.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        b.wait_event("CALL_ESTABLISHED")
        a.wait_event("CALL_ESTABLISHED")
        # What a sniffer of the signalling would know: the caller's Call-ID and both tags.
        log = p.log.read_text()
        invite = re.search(r'raw_message="INVITE sip:101@[^"]*?Call-ID: ([^\\]+)\\r\\n', log)
        call_id = invite.group(1)
        from_tag = re.search(r"From: [^\\]*;tag=([^\\;]+)", invite.group(0)).group(1)
        to_tag = re.search(r'SIP/2.0 200 OK[^"]*?Call-ID: ' + re.escape(call_id) + r'[^"]*"', log)
        to_tag = re.search(r"To: [^\\]*;tag=([^\\;]+)", to_tag.group(0)).group(1)
        sdp = (b"v=0\r\no=- 1 2 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
               b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        stranger = Client(p.sip_port, p.sip_port + 2, bind_ip="127.0.0.2")
        stranger.call_id, stranger.tag, stranger.cseq = call_id, from_tag, 100
        for method, body in [("INVITE", sdp), ("BYE", b"")]:
            extra = "Content-Type: application/sdp\r\n" if body else ""
            status, _ = stranger.request(method, f"sip:101@127.0.0.1:{p.sip_port}", "100", body=body, extra=extra,
                                         to_user="101", to_tag=to_tag)
            assert status == 481, (method, status)
        a.drain(1.5)
        calls = p.status()["calls"]
        assert len(calls) == 1 and calls[0]["state"] == "answered", calls
        before = calls[0]["packets_b_to_a"]
        a.drain(1.0)
        assert p.status()["calls"][0]["packets_b_to_a"] > before + 20  # the caller still hears the callee
        a.send("hangup")
        b.wait_event("CALL_CLOSED")
    finally:
        a.stop()
        b.stop()


def wav_claiming(rate, channels, data):
    body = b"\0" * data
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * 2 * channels) & 0xFFFFFFFF, 2 * channels, 16)
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data"
            + struct.pack("<I", data) + body)


def _crc(data, poly, bits):
    crc, top, mask = 0, 1 << (bits - 1), (1 << bits) - 1
    for byte in data:
        crc ^= byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
    return crc


def _utf8_number(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x800:
        return bytes([0xC0 | n >> 6, 0x80 | n & 0x3F])
    return bytes([0xE0 | n >> 12, 0x80 | (n >> 6) & 0x3F, 0x80 | n & 0x3F])


def flac_bomb(seconds, rate=192000, channels=8, declare_length=True):
    """A FLAC file of silence made of CONSTANT subframes in 65,535-sample blocks: about 35 bytes per
    block, so ten minutes at 192 kHz and 8 channels (1.8 GB of samples) fit in some 60 KB."""
    block = 65535
    total = seconds * rate
    info = struct.pack(">HH", block, block) + b"\0\0\0" + b"\0\0\0"
    packed = (rate << 44) | ((channels - 1) << 41) | (15 << 36) | (total if declare_length else 0)
    info += packed.to_bytes(8, "big") + b"\0" * 16
    out = bytearray(b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info)
    for frame in range((total + block - 1) // block):
        n = min(block, total - frame * block)
        head = bytes([0xFF, 0xF8, 0x70, ((channels - 1) << 4) | 0x08]) + _utf8_number(frame) + (n - 1).to_bytes(2, "big")
        head += bytes([_crc(head, 0x07, 8)])
        body = head + b"\0\0\0" * channels  # per channel: CONSTANT subframe header, then the 16-bit value 0
        out += body + _crc(body, 0x8005, 16).to_bytes(2, "big")
    return bytes(out)


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_upload_bombs_are_refused_and_memory_stays_bounded(parley_factory, tmp_path):
    p = parley_factory()
    p.add_user("101", "secret101")
    p.start()
    bob = ("101", "secret101")
    # The server's peak memory after a normal upload is the baseline.
    good = tmp_path / "good.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(good), "synth", "3", "sine", "500"],
                   check=True)
    status, body, _ = http(p, "PUT", "/api/v1/mailboxes/101/greetings/busy", raw=good.read_bytes(), auth=bob)
    assert status == 200, body
    baseline = peak_rss_mb(p.proc.pid)
    # A 100-byte WAV declaring 4,294,967,294 Hz, and one declaring 4,000 channels.
    for rate, channels in [(4_294_967_294, 1), (8000, 4000)]:
        status, body, _ = http(p, "PUT", "/api/v1/mailboxes/101/greetings/unavailable",
                               raw=wav_claiming(rate, channels, 56), auth=bob)
        assert status == 400 and body["code"] == "invalid", (status, body)
        assert "sample rate" in body["message"] or "channel" in body["message"], body
    # FLAC bombs: ten minutes of 192 kHz, 8-channel silence in 60 KB, decoding to 1.8 GB; once with its
    # length in the header, once hiding it (the decoded samples are counted then).
    small = flac_bomb(2)
    status, body, _ = http(p, "PUT", "/api/v1/mailboxes/101/greetings/name", raw=small, auth=bob)
    assert status == 200 and body["converted"] and "FLAC" in body["message"], body  # the format itself is sound
    for declared in (True, False):
        bomb = flac_bomb(600, declare_length=declared)
        assert len(bomb) < 100_000, len(bomb)
        status, body, _ = http(p, "PUT", "/api/v1/mailboxes/101/greetings/unavailable", raw=bomb, auth=bob)
        assert status == 400 and ("longer than" in body["message"] or "far more audio" in body["message"]), (
            declared, status, body)
    grown = peak_rss_mb(p.proc.pid) - baseline
    assert grown < 64, f"peak memory grew by {grown:.0f} MB"
    assert not (p.data / "voicemail" / "101" / "greetings" / "unavailable.wav").exists()
    assert p.proc.poll() is None


def test_a_mailbox_without_a_pin_is_not_opened_from_star_98_with_the_default(parley_factory, tmp_path):
    p = parley_factory(voicemail_default_pin="1234")
    p.add_user("100", "secret100")
    p.add_user("101", "secret101")  # created without a PIN
    p.start()
    phone = Baresip(tmp_path, "phone", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        phone.dial(f"sip:*98@127.0.0.1:{p.sip_port}")
        phone.press("101#1234#")
        phone.drain(2.5)
        phone.send("hangup")
        phone.wait_event("CALL_CLOSED", secs=15)
    finally:
        phone.stop()
    log = own_lines(p.log.read_text())
    assert "mailbox login mailbox=101 ok=false" in log, log[-3000:]
    assert "mailbox login mailbox=101 ok=true" not in log


def test_bounds_answer_clearly_and_affect_nothing_else(parley_factory):
    p = parley_factory(register_max_contacts=2, sip_tcp_per_address=3, max_subscriptions_per_account=1)
    p.add_user("100", "secret100")
    p.start()
    uri = f"sip:127.0.0.1:{p.sip_port}"

    def register(client, user="100"):
        status, h = client.request("REGISTER", uri, user, extra="Expires: 300\r\n")
        return client.authorized("REGISTER", uri, user, "secret100", header(h, "WWW-Authenticate")[0],
                                 extra="Expires: 300\r\n")

    phones = [Client(p.sip_port, p.sip_port + 2 + i) for i in range(3)]
    assert register(phones[0])[0] == 200
    assert register(phones[1])[0] == 200
    status, _ = register(phones[2])
    assert status == 503, status  # a third contact: refused, the two registered stay
    assert len(p.status()["registrations"]) == 2
    # Over TCP, a request larger than 32 KiB gets 513 without being looked at further (UDP datagrams
    # are read into 8 KiB: larger ones are cut and dropped as unparseable).
    tcp_big = Client(p.sip_port, p.sip_port + 11, transport="tcp")
    big = tcp_big.request("OPTIONS", uri + ";transport=tcp", "100", extra="X-Padding: " + "a" * 40000 + "\r\n")
    assert big is not None and big[0] == 513, big
    assert tcp_big.request("OPTIONS", uri + ";transport=tcp", "100")[0] == 200  # and the connection goes on
    # A second MWI subscription of the same account is refused; the first is served.
    subs = []
    for i in range(2):
        c = Client(p.sip_port, p.sip_port + 8 + i)
        suri = f"sip:100@127.0.0.1:{p.sip_port}"
        status, h = c.request("SUBSCRIBE", suri, "100", extra="Event: message-summary\r\nExpires: 300\r\n")
        status, _ = c.authorized("SUBSCRIBE", suri, "100", "secret100", header(h, "WWW-Authenticate")[0],
                                 extra="Event: message-summary\r\nExpires: 300\r\n")
        subs.append(status)
    assert subs == [200, 403], subs
    # TCP: three connections from one address are served (the one above and two more), a fourth is
    # closed at once.
    conns = [tcp_big.sock]
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", p.sip_port), timeout=3)
        conns.append(s)
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", p.sip_port), timeout=3)
    try:
        assert extra.recv(100) == b""
    except ConnectionResetError:
        pass
    extra.close()
    try:  # a fourth, refused as well: closed (or reset) without an answer
        tcp = Client(p.sip_port, p.sip_port + 12, transport="tcp")
        answer = tcp.request("OPTIONS", uri + ";transport=tcp", "100")
        tcp.close()
    except OSError:
        answer = None
    assert answer is None, answer
    for s in conns:
        s.close()
    time.sleep(6)  # the closed ones are forgotten; a new connection is served again
    tcp = Client(p.sip_port, p.sip_port + 13, transport="tcp")
    status, _ = tcp.request("OPTIONS", uri + ";transport=tcp", "100")
    assert status == 200
    tcp.close()
    assert p.proc.poll() is None
