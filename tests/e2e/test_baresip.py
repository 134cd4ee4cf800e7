"""Two real phones (baresip) registered to Parley call each other: audio flows both ways through Parley's
relay (checked by the frequency each side records), RFC 4733 DTMF crosses, and either side hangs up."""
import re
import time

import pytest

from peers import Baresip, dominant_frequency, read_wav, rms


@pytest.fixture
def phones(parley_factory, tmp_path):
    made = []

    def make(transport="udp", codec="pcmu"):
        p = parley_factory()
        p.add_user("100", "secret100")
        p.add_user("101", "secret101")
        p.start()
        a = Baresip(tmp_path, "a", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440, transport, codec=codec)
        made.append(a)
        b = Baresip(tmp_path, "b", p.sip_port + 12, p.sip_port + 15, p.sip_port, "101", "secret101", 1000, transport, codec=codec)
        made.append(b)
        # baresip registers as soon as it starts, before its control socket is connected, so the
        # registrations are read from Parley instead of from REGISTER_OK events.
        deadline = time.time() + 10
        while {r["extension"] for r in p.status()["registrations"]} != {"100", "101"}:
            assert time.time() < deadline, p.status()
            time.sleep(0.1)
        return p, a, b

    yield make
    for ph in made:
        ph.stop()


def analyse(path):
    samples, rate = read_wav(path)
    middle = samples[len(samples) // 4: len(samples) * 3 // 4]
    return dominant_frequency(middle, rate), rms(middle)


@pytest.mark.parametrize("transport,codec", [("udp", "pcmu"), ("tcp", "pcma")])
def test_two_baresips_talk_both_ways_through_the_relay_and_dtmf_crosses(phones, transport, codec):
    p, a, b = phones(transport, codec)
    regs = {r["extension"]: r["source"] for r in p.status()["registrations"]}
    assert regs["100"].startswith(transport) and regs["101"].startswith(transport), regs
    a.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
    a.wait_event("CALL_ESTABLISHED")
    b.wait_event("CALL_ESTABLISHED")
    a.drain(1.0)
    a.press("15#", gap=0.5)
    a.drain(1.5)
    calls = p.status()["calls"]
    assert len(calls) == 1 and calls[0]["state"] == "answered"
    assert calls[0]["packets_a_to_b"] > 50 and calls[0]["packets_b_to_a"] > 50, calls
    a.send("hangup")
    b.wait_event("CALL_CLOSED")
    a.wait_event("CALL_CLOSED")
    b.drain(0.5)
    # The negotiated codec is the one asked for (PT 0 for PCMU, 8 for PCMA) in Parley's answer to A.
    pt = {"pcmu": 0, "pcma": 8}[codec]
    offers = re.findall(r"m=audio \d+ RTP/AVP ([\d ]+)", p.log.read_text())
    assert offers and all(o.split()[0] == str(pt) for o in offers), offers
    digits = [e.get("param") for e in b.of_type("CALL_DTMF_START")]
    assert digits == ["1", "5", "#"], b.events

    # What B received is A's 440 Hz tone and vice versa, so audio crossed the relay both ways.
    (fa, share_a), rms_a = analyse(a.recordings("dec")[-1])
    (fb, share_b), rms_b = analyse(b.recordings("dec")[-1])
    assert abs(fb - 440) <= 10 and share_b > 0.5 and rms_b > 1000, (fb, share_b, rms_b)
    assert abs(fa - 1000) <= 10 and share_a > 0.5 and rms_a > 1000, (fa, share_a, rms_a)
    time.sleep(0.3)
    assert p.status()["calls"] == []


def test_callee_baresip_hangs_up_and_the_caller_is_released(phones):
    p, a, b = phones()
    a.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
    b.wait_event("CALL_ESTABLISHED")
    a.wait_event("CALL_ESTABLISHED")
    b.drain(1.0)
    b.send("hangup")
    a.wait_event("CALL_CLOSED")
    time.sleep(0.3)
    assert p.status()["calls"] == []


def test_baresip_re_registers_on_the_same_nonce_and_keeps_one_binding(parley_factory, tmp_path):
    p = parley_factory(register_min_expires=5)
    p.add_user("100", "secret100")
    p.start()
    a = Baresip(tmp_path, "a", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440, regint=6)
    try:
        time.sleep(12)
        regs = p.status()["registrations"]
        assert len(regs) == 1 and regs[0]["user_agent"].startswith("baresip"), regs
        log = p.log.read_text()
        refreshes = log.count("registration refreshed")
        assert refreshes >= 1, log[-3000:]
        assert "authentication failed" not in log
    finally:
        a.stop()
