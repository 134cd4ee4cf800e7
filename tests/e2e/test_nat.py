"""Symmetric RTP: a phone behind NAT announces one RTP address in SDP but sends from another; Parley's
relay sends the callee's audio back to where the phone really sends from."""
import socket
import time

from peers import Baresip
from sipclient import Client, header


def test_relay_latches_to_the_address_rtp_really_comes_from(parley_factory, tmp_path):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.add_user("101", "secret101")
    p.start()
    callee = Baresip(tmp_path, "b", p.sip_port + 12, p.sip_port + 15, p.sip_port, "101", "secret101", 1000)
    try:
        deadline = time.time() + 10
        while not p.status()["registrations"]:
            assert time.time() < deadline
            time.sleep(0.1)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.settimeout(0.2)
        announced = 9  # discard port: nothing listens there, as with a NAT's private address
        sdp = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {announced} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()
        c = Client(p.sip_port, p.sip_port + 2)
        uri = f"sip:101@127.0.0.1:{p.sip_port}"
        extra = "Content-Type: application/sdp\r\n"
        status, h = c.request("INVITE", uri, "100", to_user="101", body=sdp, extra=extra)
        assert status == 407
        status, h = c.authorized("INVITE", uri, "100", "secret100", header(h, "Proxy-Authenticate")[0], proxy=True,
                                 to_user="101", body=sdp, extra=extra)
        while status < 200:
            status, h = c.recv(5)
        assert status == 200
        # Send RTP from a port other than the announced one to the relay port in Parley's answer.
        # The status snapshot is published just after the 200 leaves: give it a moment.
        deadline = time.time() + 3
        while not [c for c in p.status()["calls"] if c["state"] == "answered"]:
            assert time.time() < deadline, p.status()["calls"]
            time.sleep(0.05)
        relay_port = int(c.last_body.split(b"m=audio ")[1].split(b" ")[0])
        pkt = bytes([0x80, 0]) + bytes(10) + b"\xff" * 160
        received = 0
        deadline = time.time() + 5
        while received <= 20 and time.time() < deadline:
            rtp.sendto(pkt, ("127.0.0.1", relay_port))
            try:
                rtp.recv(2048)
                received += 1
            except socket.timeout:
                pass
        assert received > 20, "the callee's audio did not come back to the latched source address"
    finally:
        callee.stop()
