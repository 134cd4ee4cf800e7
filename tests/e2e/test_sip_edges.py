"""SIP edge cases against the real binary: SHA-256 digest, malformed input, OPTIONS, TCP, privacy of
SUBSCRIBE/MESSAGE."""
import socket
import time

from sipclient import Client, header


def start(parley_factory, **config):
    p = parley_factory(**config)
    p.add_user("100", "secret100")
    return p.start()


def test_sha256_digest_registers_when_offered(parley_factory):
    p = start(parley_factory, digest_algorithms=["SHA-256", "MD5"])
    c = Client(p.sip_port, p.sip_port + 2)
    uri = f"sip:127.0.0.1:{p.sip_port}"
    status, h = c.request("REGISTER", uri, "100", extra="Expires: 60\r\n")
    assert status == 401
    challenges = header(h, "WWW-Authenticate")
    assert "algorithm=SHA-256" in challenges[0] and "algorithm=MD5" in challenges[1]
    status, h = c.authorized("REGISTER", uri, "100", "secret100", challenges[0], alg="SHA-256", extra="Expires: 60\r\n")
    assert status == 200
    assert [r["extension"] for r in p.status()["registrations"]] == ["100"]
    status, _ = c.authorized("REGISTER", uri, "100", "wrong", challenges[0], alg="SHA-256", extra="Expires: 60\r\n")
    assert status == 403


def test_registration_over_tcp_is_reached_over_its_connection(parley_factory):
    p = start(parley_factory)
    c = Client(p.sip_port, p.sip_port + 3, transport="tcp")
    uri = f"sip:127.0.0.1:{p.sip_port};transport=tcp"
    status, h = c.request("REGISTER", uri, "100", extra="Expires: 60\r\n")
    assert status == 401
    status, _ = c.authorized("REGISTER", uri, "100", "secret100", header(h, "WWW-Authenticate")[0], extra="Expires: 60\r\n")
    assert status == 200
    assert p.status()["registrations"][0]["source"].startswith("tcp:127.0.0.1:")


def test_options_is_answered_without_authentication(parley_factory):
    p = start(parley_factory)
    c = Client(p.sip_port, p.sip_port + 2)
    status, h = c.request("OPTIONS", f"sip:127.0.0.1:{p.sip_port}", "100")
    assert status == 200 and "INVITE" in header(h, "Allow")[0]


def test_unauthenticated_subscribe_and_message_are_challenged(parley_factory):
    p = start(parley_factory)
    c = Client(p.sip_port, p.sip_port + 2)
    # SUBSCRIBE is challenged like REGISTER (401), MESSAGE like INVITE (407).
    for method, code, challenge in [("SUBSCRIBE", 401, "WWW-Authenticate"), ("MESSAGE", 407, "Proxy-Authenticate")]:
        status, h = c.request(method, f"sip:100@127.0.0.1:{p.sip_port}", "100", extra="Event: message-summary\r\n")
        assert status == code and header(h, challenge), method


def test_malformed_sip_gets_4xx_or_is_dropped_and_the_server_keeps_serving(parley_factory):
    p = start(parley_factory)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", p.sip_port + 4))
    raw.settimeout(0.5)
    head = (f"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p.sip_port + 4};branch=z9hG4bKm1\r\n"
            "From: <sip:100@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: m1\r\nCSeq: 1 INVITE\r\n")
    bad = [
        b"\x00\xff garbage \x01\x02" * 40,
        b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:",
        (head + "Content-Length: 99999999\r\n\r\nv=0\r\n").encode(),
        (head.replace("CSeq: 1 INVITE", "CSeq: one INVITE") + "Content-Length: 0\r\n\r\n").encode(),
        b"NOTSIP / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"A" * 70000,
    ]
    for msg in bad:
        raw.sendto(msg[:65000], ("127.0.0.1", p.sip_port))
        try:
            data = raw.recv(65535)
            code = int(data.split(b" ")[1])
            assert 400 <= code < 500, data[:100]
        except socket.timeout:
            pass  # dropped is an acceptable answer to garbage
    # A bad SDP in an authenticated INVITE is refused with 400.
    c = Client(p.sip_port, p.sip_port + 2)
    p.add_user("101", "secret101")
    uri = f"sip:101@127.0.0.1:{p.sip_port}"
    sdp = b"v=0\r\nc=IN IP4 not-an-ip\r\nm=audio nope RTP/AVP 0\r\n"
    status, h = c.request("INVITE", uri, "100", to_user="101", body=sdp, extra="Content-Type: application/sdp\r\n")
    assert status == 407
    # 480 before SDP would be checked if 101 is not registered: register 101 first from another port.
    reg = Client(p.sip_port, p.sip_port + 6)
    ruri = f"sip:127.0.0.1:{p.sip_port}"
    s, rh = reg.request("REGISTER", ruri, "101", extra="Expires: 60\r\n")
    assert reg.authorized("REGISTER", ruri, "101", "secret101", header(rh, "WWW-Authenticate")[0], extra="Expires: 60\r\n")[0] == 200
    status, _ = c.authorized("INVITE", uri, "100", "secret100", header(h, "Proxy-Authenticate")[0], proxy=True,
                             to_user="101", body=sdp, extra="Content-Type: application/sdp\r\n")
    while status < 200:
        status, _ = c.recv()
    assert status == 400
    # Still serving.
    time.sleep(0.2)
    status, _ = Client(p.sip_port, p.sip_port + 8).request("OPTIONS", ruri, "100")
    assert status == 200
