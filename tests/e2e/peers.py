"""Real SIP user agents for end-to-end tests: baresip driven over its ctrl_tcp JSON interface, and audio
helpers (tone files with sox, frequency analysis of recordings in pure Python)."""
import json
import math
import pathlib
import socket
import struct
import subprocess
import threading
import time
import wave

from conftest import WORKER


def ulaw(sample):
    """G.711 µ-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    s = min(abs(sample), clip) + bias
    exponent = max(0, min(7, int(math.log2(s)) - 7))
    mantissa = (s >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte):
    """One G.711 µ-law byte as a 16-bit sample."""
    u = ~byte & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def rtp(seq, ts, pt, payload, marker=False, ssrc=0x5EED):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def tone_frame(freq, n):
    """20 ms of a µ-law tone, the `n`th frame."""
    return bytes(ulaw(int(16000 * math.sin(2 * math.pi * freq * (n * 160 + i) / 8000))) for i in range(160))


class RtpEnd:
    """A far end's media (a carrier's, a mobile's): a UDP socket on 127.0.0.1 that keeps what it
    receives (µ-law decoded) and sends a `tone_hz` tone, every 20 ms, back to whoever sent to it."""

    def __init__(self, port, tone_hz):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.02)
        self.port = port
        self.tone_hz = tone_hz
        self.samples = []
        self.peer = None
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        next_send = time.time()
        while not self.stop_flag.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
                if len(data) > 12 and data[1] & 0x7F == 0:
                    self.peer = addr
                    self.samples.extend(ulaw_decode(b) for b in data[12:])
            except OSError:
                pass
            if self.peer and time.time() >= next_send:
                self.sock.sendto(rtp(n, n * 160, 0, tone_frame(self.tone_hz, n), marker=n == 0), self.peer)
                n += 1
                next_send += 0.02
            elif not self.peer:
                next_send = time.time()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(2)
        self.sock.close()


def make_tone(path, freq, seconds=30, vol=0.5):
    """A 16-bit 8 kHz mono sine WAV (baresip's aufile ends the call at EOF, so make it long); freq 0 is
    silence."""
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds),
                    "sine", str(freq), "vol", str(vol if freq else 0)], check=True)
    return path


def read_wav(path):
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, f"{path}: not 16-bit mono"
        raw = w.readframes(w.getnframes())
        rate = w.getframerate()
    samples = [int.from_bytes(raw[i:i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    return samples, rate


def goertzel(samples, rate, freq):
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / max(1, len(samples)) ** 2


def dominant_frequency(samples, rate, lo=200, hi=2000, step=10):
    """The frequency with the most energy in [lo, hi], and its share of all candidates' energy."""
    powers = [(goertzel(samples, rate, f), f) for f in range(lo, hi + 1, step)]
    best = max(powers)
    total = sum(p for p, _ in powers) or 1.0
    return best[1], best[0] / total


def rms(samples):
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


class Baresip:
    """One baresip process with its own config dir, SIP port and ctrl_tcp port."""

    def __init__(self, tmp, name, sip_port, ctrl_port, parley_port, ext, password, tone_hz, transport="udp",
                 regint=60, codec="pcmu", tone_secs=30, tone_vol=0.5):
        self.dir = tmp / f"baresip-{name}"
        self.rec = self.dir / "rec"
        self.rec.mkdir(parents=True, exist_ok=True)
        rtp_low = 40000 + 10000 * WORKER + (sip_port % 500) * 20
        tone = make_tone(self.dir / "tone.wav", tone_hz, tone_secs, tone_vol)  # the call ends with the file
        (self.dir / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
call_local_timeout 120
call_max_calls 4
audio_player alsa,null
audio_source aufile,{tone}
audio_alert alsa,null
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp_low}-{rtp_low + 40}
net_interface 127.0.0.1
dns_server 127.0.0.1:53
module_path /usr/lib/baresip/modules
module g711.so
module sndfile.so
module alsa.so
module aufile.so
module_tmp uuid.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {self.rec}
""")
        (self.dir / "accounts").write_text(
            f"<sip:{ext}@127.0.0.1:{parley_port};transport={transport}>;auth_pass={password};"
            f"answermode=auto;regint={regint};audio_codecs={codec}\n")
        self.log = open(self.dir / "baresip.log", "w")
        self.proc = subprocess.Popen(["baresip", "-f", str(self.dir)], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.events = []
        self.buf = b""
        self.tok = 0
        deadline = time.time() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", ctrl_port), timeout=0.2)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise AssertionError("baresip did not start: " + (self.dir / "baresip.log").read_text())
                time.sleep(0.1)

    def send(self, command, params=""):
        self.tok += 1
        body = json.dumps({"command": command, "params": params, "token": str(self.tok)}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def _pump(self, secs):
        end = time.time() + secs
        while time.time() < end:
            try:
                d = self.sock.recv(65536)
                if not d:
                    return
                self.buf += d
            except socket.timeout:
                pass
            while b":" in self.buf:
                n, rest = self.buf.split(b":", 1)
                n = int(n)
                if len(rest) < n + 1:
                    break
                msg, self.buf = rest[:n], rest[n + 1:]
                self.events.append(json.loads(msg))

    def wait_event(self, kind, secs=10, since=0):
        end = time.time() + secs
        while time.time() < end:
            for e in self.events[since:]:
                if e.get("event") and e.get("type") == kind:
                    return e
            self._pump(0.2)
        raise AssertionError(f"no {kind} event within {secs}s; got {[e.get('type') for e in self.events]}")

    def drain(self, secs):
        self._pump(secs)

    def dial(self, uri, settle=1.0):
        """Call `uri`, wait until it is answered, then let the first prompt start."""
        self.send("dial", uri)
        self.wait_event("CALL_ESTABLISHED")
        self.drain(settle)

    def press(self, keys, gap=0.3):
        """Press keys (RFC 4733) one after the other, `gap` seconds apart."""
        for key in keys:
            self.send("sndcode", key)
            self.drain(gap)

    def of_type(self, kind):
        return [e for e in self.events if e.get("event") and e.get("type") == kind]

    def recordings(self, suffix):
        return sorted(self.rec.glob(f"*-{suffix}.wav"))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except OSError:
                pass
            try:
                self.proc.wait(6)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
