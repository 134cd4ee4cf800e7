"""A deliberately small SIP client for tests that SIPp and baresip cannot express: SHA-256 digest,
raw malformed messages, TCP. Builds requests by hand and reads responses over UDP or TCP."""
import hashlib
import random
import re
import socket


def _h(alg, s):
    return (hashlib.sha256 if alg == "SHA-256" else hashlib.md5)(s.encode()).hexdigest()


def parse_response(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
    return status, headers


def header(headers, name):
    return [v for k, v in headers if k == name.lower()]


class Client:
    def __init__(self, server_port, local_port, transport="udp", bind_ip="127.0.0.1"):
        self.server = ("127.0.0.1", server_port)
        self.local_port = local_port
        self.local_ip = bind_ip
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((bind_ip, local_port))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # A previous run's connection on this port may linger in TIME_WAIT.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((bind_ip, local_port))
            self.sock.connect(self.server)
        self.sock.settimeout(3)
        self.cseq = 0
        self.call_id = f"{random.getrandbits(64):x}@test"
        self.tag = f"{random.getrandbits(32):x}"
        self.buf = b""
        self.last_body = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout=3):
        """One response (status, headers), or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if self.transport == "udp":
                    data, _ = self.sock.recvfrom(65535)
                else:
                    while b"\r\n\r\n" not in self.buf:
                        chunk = self.sock.recv(65535)
                        if not chunk:
                            return None
                        self.buf += chunk
                    head, rest = self.buf.split(b"\r\n\r\n", 1)
                    m = re.search(rb"(?im)^(content-length|l)\s*:\s*(\d+)", head)
                    n = int(m.group(2)) if m else 0
                    while len(rest) < n:
                        rest += self.sock.recv(65535)
                    data, self.buf = head + b"\r\n\r\n" + rest[:n], rest[n:]
                if data.startswith(b"SIP/2.0 "):
                    self.last_body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
                    return parse_response(data)
        except (socket.timeout, TimeoutError):
            return None

    def request(self, method, uri, user, extra="", body=b"", to_user=None, via_params="", to_tag=None):
        self.cseq += 1
        t = self.transport.upper()
        msg = (f"{method} {uri} SIP/2.0\r\n"
               f"Via: SIP/2.0/{t} {self.local_ip}:{self.local_port};branch=z9hG4bK{random.getrandbits(48):x};rport"
               f"{via_params}\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:{user}@127.0.0.1>;tag={self.tag}\r\n"
               f"To: <sip:{to_user or user}@127.0.0.1>{f';tag={to_tag}' if to_tag else ''}\r\n"
               f"Call-ID: {self.call_id}\r\n"
               f"CSeq: {self.cseq} {method}\r\n"
               f"Contact: <sip:{user}@127.0.0.1:{self.local_port};transport={self.transport}>\r\n"
               f"{extra}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.send_raw(msg)
        return self.recv()

    def final(self, first):
        """The final response, from `first` (a response already read) on: provisional ones skipped."""
        r = first
        while r is not None and r[0] < 200:
            r = self.recv()
        return r

    def call(self, user, password, number):
        """INVITE `number` as `user` (answering Parley's 407); the final status and its headers."""
        uri = f"sip:{number}@127.0.0.1:{self.server[1]}"
        sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
        extra = "Content-Type: application/sdp\r\n"
        st, h = self.final(self.request("INVITE", uri, user, extra=extra, body=sdp, to_user=number))
        assert st == 407, st
        st, h = self.final(self.authorized("INVITE", uri, user, password, header(h, "Proxy-Authenticate")[0],
                                           proxy=True, extra=extra, body=sdp, to_user=number))
        return st, h

    def authorized(self, method, uri, user, password, challenge, alg="MD5", proxy=False, **kw):
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = params["realm"], params["nonce"]
        ha1 = _h(alg, f"{user}:{realm}:{password}")
        ha2 = _h(alg, f"{method}:{uri}")
        nc, cnonce = "00000001", f"{random.getrandbits(32):x}"
        resp = _h(alg, f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        name = "Proxy-Authorization" if proxy else "Authorization"
        auth = (f'{name}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                f'response="{resp}", algorithm={alg}, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n')
        self.last_auth = auth
        return self.request(method, uri, user, extra=auth + kw.pop("extra", ""), **kw)
