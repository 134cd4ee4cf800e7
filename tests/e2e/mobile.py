"""A mobile phone behind the carrier, for Follow-Me tests: a SIP user agent on the carrier's address
that Parley's trunk calls (SIPp cannot record the audio it receives, which is what these tests check).
It rings, answers after a while with G.711 µ-law (and telephone-event when asked), sends 20 ms RTP
frames all along from the port its SDP names (silence, then a key as RFC 4733 events or as an
in-band DTMF tone, then a steady tone), records every RTP payload it receives with its arrival time,
and answers BYE and CANCEL."""
import math
import re
import socket
import struct
import threading
import time
import warnings
import wave

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # deprecated in 3.11, removed in 3.13; the test image runs 3.11

DTMF = {"1": (697, 1209), "2": (697, 1336), "5": (770, 1336), "#": (941, 1477)}


def _header(msg, name):
    m = re.search(rf"(?im)^{name}\s*:\s*(.*)$", msg)
    return m.group(1).strip() if m else ""


class Mobile:
    def __init__(self, ip, sip_port, rtp_port, answer_after=1.0, keys=(), tone_hz=1000, events=True):
        """`keys`: (seconds after the answer, key, "rfc4733" or "inband"); after the last key, a
        `tone_hz` tone is sent."""
        self.ip, self.rtp_port = ip, rtp_port
        self.answer_after, self.keys, self.tone_hz, self.events = answer_after, list(keys), tone_hz, events
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((ip, sip_port))
        self.sip.settimeout(0.1)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((ip, rtp_port))
        self.rtp.settimeout(0.005)
        self.invites = []  # the INVITE texts received
        self.received = []  # (arrival time, linear samples) of each audio packet
        self.answered_at = None
        self.keys_sent_at = []
        self.bye_at = None
        self.stop_flag = False
        self.peer_media = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # ---- SIP ----
    def _send(self, text, addr):
        self.sip.sendto(text.encode(), addr)

    def _reply(self, req, status, reason, addr, tag, body=""):
        vias = re.findall(r"(?im)^(?:via|v)\s*:\s*(.*)$", req)
        to = _header(req, "To")
        if ";tag=" not in to:
            to += f";tag={tag}"
        lines = [f"SIP/2.0 {status} {reason}"] + [f"Via: {v.strip()}" for v in vias] + [
            f"From: {_header(req, 'From')}", f"To: {to}", f"Call-ID: {_header(req, 'Call-ID')}",
            f"CSeq: {_header(req, 'CSeq')}", f"Contact: <sip:mobile@{self.ip}:{self.sip.getsockname()[1]}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body, addr)

    def _sdp(self):
        fmts = "0 101" if self.events else "0"
        sdp = (f"v=0\r\no=mobile 1 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\nt=0 0\r\n"
               f"m=audio {self.rtp_port} RTP/AVP {fmts}\r\na=rtpmap:0 PCMU/8000\r\n")
        if self.events:
            sdp += "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        return sdp + "a=sendrecv\r\n"

    def _run(self):
        invite = addr = None
        answer_at = None
        tag = "mob1"
        ok_sent = 0.0
        acked = False
        rtp_next = None
        seq, ts, ssrc = 1, 0, 0x4D0B11E
        phase = 0.0
        key_plan = []
        while not self.stop_flag:
            now = time.time()
            try:
                data, src = self.sip.recvfrom(65535)
                msg = data.decode(errors="replace")
                method = msg.split(" ", 1)[0]
                if method == "INVITE" and invite is None:
                    invite, addr = msg, src
                    self.invites.append(msg)
                    self._reply(msg, 180, "Ringing", addr, tag)
                    answer_at = now + self.answer_after
                    body = msg.split("\r\n\r\n", 1)[1]
                    c = re.search(r"c=IN IP4 (\S+)", body).group(1)
                    port = int(re.search(r"m=audio (\d+)", body).group(1))
                    self.peer_media = (c, port)
                elif method == "INVITE":
                    self.invites.append(msg)
                    self._reply(msg, 486, "Busy Here", src, tag)
                elif method == "ACK":
                    acked = True
                elif method == "BYE":
                    self._reply(msg, 200, "OK", src, tag)
                    self.bye_at = now
                    self.stop_flag = True
                elif method == "CANCEL":
                    self._reply(msg, 200, "OK", src, tag)
                    if invite is not None and self.answered_at is None:
                        self._reply(invite, 487, "Request Terminated", addr, tag)
                    self.stop_flag = True
            except (socket.timeout, TimeoutError):
                pass
            now = time.time()
            if answer_at and self.answered_at is None and now >= answer_at:
                self._reply(invite, 200, "OK", addr, tag, self._sdp())
                self.answered_at = ok_sent = now
                rtp_next = now
                key_plan = [(now + d, k, how) for d, k, how in self.keys]
            elif self.answered_at and not acked and now - ok_sent > 0.5:
                self._reply(invite, 200, "OK", addr, tag, self._sdp())
                ok_sent = now
            # Receive whatever arrived.
            while True:
                try:
                    pkt, _ = self.rtp.recvfrom(2048)
                except (socket.timeout, TimeoutError, BlockingIOError):
                    break
                if len(pkt) > 12 and pkt[1] & 0x7F == 0:
                    self.received.append((time.time(), audioop.ulaw2lin(pkt[12:], 2)))
            # Send every 20 ms.
            while rtp_next is not None and time.time() >= rtp_next and self.peer_media:
                rtp_next += 0.02
                if key_plan and time.time() >= key_plan[0][0]:
                    _, key, how = key_plan.pop(0)
                    self.keys_sent_at.append(time.time())
                    if how == "rfc4733":
                        for i in range(8):
                            end = i >= 5
                            event = {"*": 10, "#": 11}[key] if key in "*#" else int(key)
                            payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, 160 * (min(i, 4) + 1))
                            hdr = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 101, seq, ts, ssrc)
                            self.rtp.sendto(hdr + payload, self.peer_media)
                            seq = (seq + 1) & 0xFFFF
                        ts += 160 * 5
                        continue
                    # In-band: the key's two tones for 160 ms, in place of the next 8 frames.
                    lo, hi = DTMF[key]
                    for _ in range(8):
                        frame = b"".join(struct.pack("<h", int(6000 * (math.sin(2 * math.pi * lo * (ts + n) / 8000)
                                                                        + math.sin(2 * math.pi * hi * (ts + n) / 8000))))
                                         for n in range(160))
                        self._rtp(frame, seq, ts, ssrc)
                        seq, ts = (seq + 1) & 0xFFFF, ts + 160
                    continue
                if self.keys_sent_at and not key_plan:
                    frame = b"".join(struct.pack("<h", int(8000 * math.sin(phase + 2 * math.pi * self.tone_hz * n / 8000)))
                                     for n in range(160))
                    phase += 2 * math.pi * self.tone_hz * 160 / 8000
                else:
                    frame = b"\x00\x00" * 160
                self._rtp(frame, seq, ts, ssrc)
                seq, ts = (seq + 1) & 0xFFFF, ts + 160

    def _rtp(self, linear, seq, ts, ssrc):
        hdr = struct.pack("!BBHII", 0x80, 0, seq, ts, ssrc)
        self.rtp.sendto(hdr + audioop.lin2ulaw(linear, 2), self.peer_media)

    # ---- what it heard ----
    def heard(self, path, start=None, end=None):
        """What it received between two times (arrival), written to a 16-bit WAV; the path."""
        pcm = b"".join(s for t, s in self.received
                       if (start is None or t >= start) and (end is None or t < end))
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm)
        return path

    def close(self):
        self.stop_flag = True
        self.thread.join(3)
        self.sip.close()
        self.rtp.close()
