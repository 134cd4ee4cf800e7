"""Trunks end to end: Parley registers to a carrier played by SIPp (a digest registrar that checks
every REGISTER with verifyauth), configured with `parley trunk`, its state read with `parley trunk
status` and `parley status`."""
import hashlib
import re
import time

import pytest

from peers import Baresip, RtpEnd, dominant_frequency, read_wav, rms
from vmhelp import wait_for

ACCOUNT = "4930123456"
# The carrier plays from its own address: every phone of a test is on 127.0.0.1, and a trunk's
# address is its credential.
CARRIER_IP = "127.0.0.3"


def carrier(p, sipp, password, grant=10):
    """The carrier's registrar on its own port (inside the test's block)."""
    port = p.sip_port + 10
    return port, sipp(p, "carrier_register.xml", port=port, keys={"user": ACCOUNT, "password": password},
                      subst={"grant": grant}, ip=CARRIER_IP)


def registers(run):
    """The REGISTERs the carrier saw: (milliseconds since it started, 'ok' | 'bad')."""
    text = "\n".join(f.read_text(errors="replace") for f in run.cwd.glob("*_logs.log"))
    return [(int(ms), what) for ms, what in re.findall(r"REGISTER (\d+) (\w+)", text)]


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def check_invite_digest(run, user, password, uri):
    """The carrier's side of digest (RFC 2617, qop=auth): the INVITE that answered the 407 carries
    the right response for this nonce, the Request-URI and the trunk's password."""
    log = "\n".join(f.read_text(errors="replace") for f in run.cwd.glob("*_messages.log"))
    nonce = re.search(r'Proxy-Authenticate: Digest realm="carrier\.test", nonce="([^"]+)"', log).group(1)
    answer = re.search(r"Proxy-Authorization: Digest ([^\r\n]+)", log).group(1)
    got = dict(re.findall(r'(\w+)="?([^",]*)"?', answer))
    assert (got["username"], got["realm"], got["nonce"], got["uri"], got["qop"]) == (
        user, "carrier.test", nonce, uri, "auth"), got
    ha1 = md5(f"{user}:carrier.test:{password}")
    ha2 = md5(f"INVITE:{uri}")
    assert got["response"] == md5(f"{ha1}:{nonce}:{got['nc']}:{got['cnonce']}:auth:{ha2}"), got


def trunks(p):
    import json
    r = p.cli("trunk", "status", "--http", f"127.0.0.1:{p.http_port}", "--json")
    return {t["name"]: t for t in json.loads(r.stdout)}


@pytest.mark.postgres
def test_parley_registers_to_the_carrier_with_digest_refreshes_before_expiry_and_removes_the_binding_at_stop(
        parley_factory, sipp):
    p = parley_factory()
    port, reg = carrier(p, sipp, "Trunk-s3cret!")
    # The password goes in on standard input, never on the command line.
    out = p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port), "--username", ACCOUNT,
                "--password-stdin", "--expires", "600", input="Trunk-s3cret!\n").stdout
    assert "added trunk carrier (registering)" in out
    listing = p.cli("trunk", "list").stdout
    assert "carrier" in listing and "registering" in listing and " set " in listing
    p.start()
    t = wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "registered" and trunks(p)["carrier"],
                 what="registered")
    assert t["kind"] == "registering" and t["address"] == f"udp:{CARRIER_IP}:{port}"
    assert 0 < t["expires_in"] <= 10, "the carrier's grant, not the 600 s asked for"
    # Refreshed at half the grant, with the kept nonce and the next nc (the carrier checks each one).
    wait_for(lambda: [w for _, w in registers(reg)].count("ok") >= 3, secs=14, what="two refreshes")
    seen = registers(reg)
    assert [w for _, w in seen].count("bad") == 1 and seen[0][1] == "bad", "challenged once, then accepted"
    oks = [ms for ms, w in seen if w == "ok"]
    assert all(4000 <= b - a <= 6500 for a, b in zip(oks, oks[1:])), oks
    status = p.cli("status", "--http", f"127.0.0.1:{p.http_port}").stdout
    assert re.search(r"carrier\s+registering\s+udp:127\.0\.0\.3:\d+\s+registered, expires in \d+s", status), status
    # Stopping removes the binding (Expires: 0): the carrier's scenario ends there, successfully.
    p.stop()
    reg.assert_ok(timeout=10)
    assert registers(reg)[-1][1] == "ok"
    # The password is in no log line, no listing and no audit entry.
    everything = p.log.read_text() + listing + p.cli("audit").stdout + p.cli("trunk", "list").stdout
    assert "Trunk-s3cret!" not in everything
    assert "trunk.add" in p.cli("audit").stdout


@pytest.mark.postgres
def test_a_wrong_password_shows_the_failure_retries_with_back_off_and_a_fix_registers_at_once(
        parley_factory, sipp):
    p = parley_factory(trunk_retry_secs=1, trunk_retry_max_secs=4)
    port, reg = carrier(p, sipp, "the-right-one")
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port), "--username", ACCOUNT,
          "--password", "a-wrong-one")
    p.start()
    t = wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "failed" and trunks(p)["carrier"],
                 what="the failure shown")
    # The carrier challenged the answer again: the password is wrong.
    assert t["reason"] == "wrong credentials (the carrier refused them)" and t["retry_in"] is not None, t
    assert "failed: wrong credentials" in p.cli("trunk", "status", "--http", f"127.0.0.1:{p.http_port}").stdout
    # Attempts (a REGISTER and the answer to its challenge) back off: 1 s, 2 s, 4 s, then 4 s again
    # (the limit).
    def attempts():
        starts, last = [], None
        for ms, w in registers(reg):
            assert w == "bad"
            if last is None or ms - last > 500:
                starts.append(ms)
            last = ms
        return starts
    wait_for(lambda: len(attempts()) >= 5, secs=20, what="five refused attempts")
    bad = attempts()
    gaps = [b - a for a, b in zip(bad, bad[1:])][:4]
    for gap, want in zip(gaps, [1000, 2000, 4000, 4000]):
        assert want - 300 <= gap <= want + 1200, gaps
    # The administrator fixes the password: the running server is told and registers at once, without
    # waiting for the next retry.
    p.cli("trunk", "set", "carrier", "--password", "the-right-one", "--http", f"127.0.0.1:{p.http_port}")
    wait_for(lambda: trunks(p)["carrier"]["state"] == "registered", secs=3, what="registered after the fix")
    # Removing the trunk removes the binding at the carrier while Parley runs.
    assert "removed trunk carrier" in p.cli("trunk", "remove", "carrier", "--http", f"127.0.0.1:{p.http_port}").stdout
    reg.assert_ok(timeout=10)
    wait_for(lambda: "carrier" not in trunks(p), secs=3, what="the trunk gone from the status")


def test_trunk_commands_refuse_absurd_settings_with_the_reason(parley_factory):
    p = parley_factory()
    for args, message in [
        (["trunk", "add", "a b", "--host", "x.example"], "a trunk name is"),
        (["trunk", "add", "c", "--host", "evil.example>;lr"], "is not a host name"),
        (["trunk", "add", "c", "--host", "x.example", "--username", "u"], "needs a username and a password"),
        (["trunk", "add", "c", "--host", "x.example", "--username", "u@x", "--password", "p"], "a username is"),
        (["trunk", "add", "c", "--host", "x.example", "--transport", "sctp"], "transport is udp or tcp"),
        (["trunk", "add", "c", "--host", "x.example", "--expires", "5"], "expires is 60-86400"),
        (["trunk", "add", "c", "--host", "x.example", "--peer", "not-an-ip"], "is not an IP address"),
        (["trunk", "add", "c", "--host", "x.example", "--proxy", "p.example:0"], "is not a host name"),
        (["trunk", "set", "nobody", "--port", "5080"], "no trunk named nobody"),
        (["trunk", "remove", "nobody"], "no trunk named nobody"),
    ]:
        r = p.cli(*args, check=False)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
    p.cli("trunk", "add", "pbx", "--host", "10.0.0.2", "--peer", "10.0.0.2,10.0.0.3")
    dup = p.cli("trunk", "add", "pbx", "--host", "10.0.0.2", check=False)
    assert dup.returncode != 0 and "exists already" in dup.stderr
    assert re.search(r"pbx\s+peer\s+10\.0\.0\.2:5060\s+udp\s+-\s+-\s+yes\s+10\.0\.0\.2,10\.0\.0\.3", p.cli("trunk", "list").stdout)


@pytest.mark.postgres
def test_a_phone_dials_9_and_a_national_number_a_trunk_answering_503_hands_it_on_the_carrier_gets_e164_and_the_caller_id_and_both_hear_each_other(
        parley_factory, sipp, tmp_path):
    p = parley_factory(main_number="+15855550100")
    p.add_user("100", "secret100")
    # Nobody dials out unless allowed: 100 may call national numbers.
    p.cli("user", "set", "100", "--outside-number", "+15855550142", "--dial-class", "national")
    # An IP peer that challenges the calls it takes (no registration), with the media at a test end
    # that sends a 1000 Hz tone and keeps what it hears.
    media = RtpEnd(p.sip_port + 18, 1000)
    port = p.sip_port + 10
    uas = sipp(p, "carrier_uas.xml", port=port, keys={"user": ACCOUNT, "password": "Trunk-s3cret!"},
               subst={"number_re": r"\+15855550123", "caller_id_re": r"\+15855550142", "rtp": media.port},
               ip=CARRIER_IP)
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port), "--register", "off",
          "--username", ACCOUNT, "--password", "Trunk-s3cret!")
    # The first trunk tried (by name) cannot take the call: 503, and the call goes on the next.
    first_port = p.sip_port + 30  # (SIPp takes its -mp port and the one two above for media)
    first = sipp(p, "carrier_refuse.xml", port=first_port, subst={"status": 503}, ip=CARRIER_IP)
    p.cli("trunk", "add", "a-first", "--host", CARRIER_IP, "--port", str(first_port))
    p.start()
    wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "peer", what="the trunk read")
    phone = Baresip(tmp_path, "phone", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: any(r["extension"] == "100" for r in p.status()["registrations"]), what="the phone")
        phone.send("dial", f"sip:95855550123@127.0.0.1:{p.sip_port}")
        phone.wait_event("CALL_ESTABLISHED", secs=15)
        phone.drain(4.0)
        calls = p.status()["calls"]
        assert len(calls) == 1 and calls[0]["callee"] == "+15855550123", calls
        assert calls[0]["packets_a_to_b"] > 100 and calls[0]["packets_b_to_a"] > 100, calls
        phone.send("hangup")
        phone.wait_event("CALL_CLOSED")
        phone.drain(0.5)
    finally:
        phone.stop()
        media.stop()
    first.assert_ok(timeout=5)
    # The carrier's scenario checked the Request-URI and the caller ID; the answer to its 407 is right.
    uas.assert_ok(timeout=10)
    check_invite_digest(uas, ACCOUNT, "Trunk-s3cret!", f"sip:+15855550123@{CARRIER_IP}:{port}")
    # The carrier heard the phone's 440 Hz; the phone heard the carrier's 1000 Hz.
    heard = media.samples[len(media.samples) // 4: len(media.samples) * 3 // 4]
    assert len(heard) > 8000 * 2 and rms(heard) > 1000, len(heard)
    freq, share = dominant_frequency(heard, 8000)
    assert abs(freq - 440) <= 10 and share > 0.3, (freq, share)
    samples, rate = read_wav(phone.recordings("dec")[-1])
    middle = samples[len(samples) // 4: len(samples) * 3 // 4]
    freq, share = dominant_frequency(middle, rate)
    assert abs(freq - 1000) <= 10 and share > 0.3 and rms(middle) > 1000, (freq, share)


def test_a_user_without_international_permission_gets_403_and_the_carrier_sees_nothing(parley_factory, sipp):
    p = parley_factory(main_number="+15855550100")
    p.add_user("100", "secret100")
    # 101 may call the company's own area code (585, of the main number) only.
    p.add_user("101", "secret101")
    p.cli("user", "set", "101", "--dial-class", "local")
    port = p.sip_port + 10
    uas = sipp(p, "carrier_uas.xml", port=port, keys={"user": ACCOUNT, "password": "x"},
               subst={"number_re": "x", "caller_id_re": "x", "rtp": 4000}, ip=CARRIER_IP)
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port))
    bad = p.cli("user", "set", "100", "--dial-class", "everything", check=False)
    assert bad.returncode != 0 and "not a dialling class" in bad.stderr
    # Allowed national calls, not international ones: +1 numbers of other countries (Jamaica's 876,
    # the classic toll-fraud destination) are international.
    p.cli("user", "set", "100", "--dial-class", "national")
    p.start()
    wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "peer", what="the trunk read")
    from sipclient import Client, header
    # A probe the carrier must log (so that finding no INVITE in its log below means something).
    import socket
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.sendto(f"OPTIONS sip:probe@{CARRIER_IP} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe\r\n"
                 "From: <sip:probe@t>;tag=1\r\nTo: <sip:probe@t>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n".encode(), (CARRIER_IP, port))
    probe.close()
    for i, (user, number, reason) in enumerate([
            ("100", "9011442079460123", "international calls are not allowed"),
            ("100", "918765550123", "international calls are not allowed"),
            ("100", "99005550123", "premium-rate calls are not allowed"),
            ("101", "97165550123", "national calls are not allowed")]):
        phone = Client(p.sip_port, p.sip_port + 2 + i)
        status, headers = phone.call(user, f"secret{user}", number)
        # The reason is in a Warning (the SIP stack writes its own reason phrase).
        assert status == 403 and header(headers, "Warning") == [f'399 127.0.0.1 "{reason}"'], (number, headers)
        phone.close()
    # SIPp ends cleanly on SIGINT (its message log written out): the carrier received nothing.
    uas.proc.send_signal(2)
    uas.wait(10)
    received = "\n".join(f.read_text(errors="replace") for f in uas.cwd.glob("*_messages.log"))
    assert "OPTIONS sip:probe@" in received, "the carrier's log works"
    assert "INVITE sip:" not in received, received[-2000:]


def test_calls_from_the_carrier_reach_the_did_extension_the_did_mailbox_and_the_default_and_a_stranger_is_refused(
        parley_factory, sipp, tmp_path):
    from vmhelp import messages, pcm_tone
    p = parley_factory(inbound_default="100", no_answer_secs=3)
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    greetings = p.data / "voicemail" / "102" / "greetings"
    greetings.mkdir(parents=True)
    pcm_tone(greetings / "unavailable.wav", 600, 2.0)
    port = p.sip_port + 10
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port))
    p.cli("did", "set", "+15855550101", "--extension", "101")
    p.cli("did", "set", "+15855550199", "--mailbox", "102")
    assert re.search(r"\+15855550199\s+mailbox 102", p.cli("did", "list").stdout)
    p.start()
    wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "peer", what="the trunk read")
    bob = Baresip(tmp_path, "bob", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440)
    media = RtpEnd(p.sip_port + 18, 1000)
    try:
        wait_for(lambda: any(r["extension"] == "101" for r in p.status()["registrations"]), what="bob's phone")
        # The carrier writes the DID without `+` and the caller in national form: bob's phone rings
        # (baresip answers at once) and both hear each other.
        call = sipp(p, "carrier_uac.xml", port=port, service="15855550101", ip=CARRIER_IP,
                    subst={"caller": "5855550123", "rtp": media.port, "hold": 4000})
        bob.wait_event("CALL_ESTABLISHED", secs=10)
        wait_for(lambda: p.status()["calls"], secs=5, what="the call in the status")
        assert p.status()["calls"][0]["caller"] == "+15855550123"
        call.assert_ok(timeout=15)
        bob.wait_event("CALL_CLOSED")
    finally:
        bob.stop()
        media.stop()
    heard = media.samples[len(media.samples) // 4: len(media.samples) * 3 // 4]
    freq, share = dominant_frequency(heard, 8000)
    assert abs(freq - 440) <= 10 and share > 0.3, (freq, share)
    samples, rate = read_wav(bob.recordings("dec")[-1])
    middle = samples[len(samples) // 4: len(samples) * 3 // 4]
    freq, share = dominant_frequency(middle, rate)
    assert abs(freq - 1000) <= 10 and share > 0.3, (freq, share)
    # The mailbox DID: the caller hears 102's greeting (600 Hz) and leaves the carrier's 1000 Hz.
    media = RtpEnd(p.sip_port + 19, 1000)
    try:
        sipp(p, "carrier_uac.xml", port=port, service="+15855550199", ip=CARRIER_IP,
             subst={"caller": "+442079460123", "rtp": media.port, "hold": 12000}).assert_ok(timeout=25)
    finally:
        media.stop()
    greeting = media.samples[int(8000 * 0.3): int(8000 * 1.5)]
    freq, share = dominant_frequency(greeting, 8000)
    assert abs(freq - 600) <= 10 and share > 0.3, (freq, share)
    left = wait_for(lambda: messages(p, "102"), what="the message")
    assert left[0]["caller"] == "+442079460123", left
    # A number that is no DID reaches the default (100, not registered: its voicemail answers).
    sipp(p, "carrier_uac.xml", port=port, service="+15855550777", ip=CARRIER_IP,
         subst={"caller": "5855550124", "rtp": p.sip_port + 17, "hold": 3000}).assert_ok(timeout=20)
    calls = [l for l in p.log.read_text().splitlines() if "call from outside" in l and "+15855550777" in l]
    assert calls and 'to=Some(Extension("100"))' in calls[-1], calls
    # Someone else claiming to be the carrier (another address) is challenged like any phone, and
    # its call goes nowhere.
    stranger = sipp(p, "carrier_uac.xml", port=port + 1, service="+15855550101",
                    subst={"caller": "5855550123", "rtp": p.sip_port + 17, "hold": 1000})
    assert stranger.wait(10) != 0
    assert "407" in stranger.logs() or "407" in (stranger.output or "")
    assert not any(c["caller"] == "+15855550123" for c in p.status()["calls"])


def test_the_hourly_limit_trips_with_403_an_audit_entry_and_one_alert_email_and_an_emergency_call_still_goes_out(
        parley_factory, sipp):
    import json
    from conftest import next_ports
    from sipclient import Client, header
    from test_notify import Receiver, SmtpSink
    smtp = SmtpSink(next_ports()).start()
    web = Receiver(next_ports())
    try:
        p = parley_factory(outside_calls_per_user_hour=2,
                           smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"})
        p.cli("user", "add", "100", "--name", "Admin", "--password", "secret100", "--privilege", "admin",
              "--email", "admin@example.com")
        p.cli("user", "add", "101", "--name", "Bob", "--password", "secret101", "--email", "bob@example.com")
        p.cli("user", "set", "101", "--dial-class", "national")
        port = p.sip_port + 10
        # The far end is busy: each call that goes out ends at once (two ordinary ones and 911).
        carrier = sipp(p, "carrier_refuse.xml", port=port, subst={"status": 486}, ip=CARRIER_IP, m=3)
        p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(port))
        # A webhook for alerts, and one for messages only (the default), which hears nothing of them.
        p.cli("webhook", "add", web.url + "/alerts", "--event", "alert.outside_limit")
        p.cli("webhook", "add", web.url + "/messages")
        p.start()
        wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "peer", what="the trunk read")
        reason = "Outside call limit reached: 2 an hour per user"
        got = []
        for i, number in enumerate(["95855550123", "95855550124", "95855550125", "95855550126", "911"]):
            phone = Client(p.sip_port, p.sip_port + 2 + i)
            status, headers = phone.call("101", "secret101", number)
            got.append((status, header(headers, "Warning")))
            phone.close()
        refused = (403, [f'399 127.0.0.1 "{reason}"'])
        assert [g[0] for g in got[:2]] == [486, 486] and got[2:4] == [refused, refused] and got[4][0] == 486, got
        # The carrier took the two calls within the limit and the emergency call over it.
        carrier.assert_ok(timeout=10)
        seen = "\n".join(f.read_text(errors="replace") for f in carrier.cwd.glob("*_messages.log"))
        invites = re.findall(r"^INVITE (sip:\S+)", seen, re.M)
        assert invites == [f"sip:+15855550123@{CARRIER_IP}:{port}", f"sip:+15855550124@{CARRIER_IP}:{port}",
                           f"sip:911@{CARRIER_IP}:{port}"], invites
        # Every refusal is audited with the caller, its address and the number.
        audit = [line for line in p.cli("audit").stdout.splitlines() if "outside.refused" in line]
        assert len(audit) == 2 and all("101" in a and "127.0.0.1" in a and reason in a for a in audit), audit
        assert "+15855550125" in audit[1] and "+15855550126" in audit[0], audit
        # One alert, to the administrator only, arrives by email.
        wait_for(lambda: len(smtp.messages()) >= 1, what="the alert email")
        time.sleep(1.5)
        mails = smtp.messages()
        assert len(mails) == 1, [m["To"] for m in mails]
        mail = mails[0]
        assert mail["To"] == "admin@example.com" and "101" in mail["Subject"], (mail["To"], mail["Subject"])
        body = mail.get_body(("plain",)).get_content()
        assert "+15855550125" in body and reason in body and "user.hourly" in body, body
        alerts = [o for o in json.loads(p.cli("outbox", "list", "--json").stdout)
                  if o["event"] == "alert.outside_limit"]
        assert len(alerts) == 2 and all(a["state"] == "sent" for a in alerts), alerts
        hooks = web.to("/alerts")
        assert len(hooks) == 1 and web.to("/messages") == [], web.requests
        sent = json.loads(hooks[0]["body"])
        assert sent["event"] == "alert.outside_limit" and sent["alert"]["caller"] == "101", sent
        assert (sent["alert"]["number"], sent["alert"]["limit"]) == ("+15855550125", "user.hourly"), sent
    finally:
        smtp.stop()
        web.close()


def test_a_trunk_whose_options_fail_is_skipped_and_the_next_gets_the_number_and_caller_id_as_it_asks(
        parley_factory, sipp):
    """The first trunk answers its OPTIONS keep-alive 503 twice: it is down, and a call goes to the
    second, which wants national numbers and the caller ID in P-Asserted-Identity; the phone dialled
    *67 first, so the far end sees nobody. The record names the trunk. When the first answers
    OPTIONS again it is up."""
    import json
    from sipclient import Client
    from test_json_api import call as api_call
    p = parley_factory(main_number="+15855550100")
    p.add_user("100", "secret100")
    p.cli("user", "set", "100", "--outside-number", "+15855550142", "--dial-class", "national")
    first_port, second_port = p.sip_port + 10, p.sip_port + 30
    down = sipp(p, "carrier_options.xml", port=first_port, subst={"status": 503}, ip=CARRIER_IP, m=2)
    p.cli("trunk", "add", "a-first", "--host", CARRIER_IP, "--port", str(first_port), "--keepalive", "2")
    # (Substituted into XML attributes: < and > written as entities.)
    second = sipp(p, "carrier_check.xml", port=second_port, ip=CARRIER_IP, subst={
        "number_re": "5855550123", "from_re": r".Anonymous. &lt;sip:anonymous@anonymous\.invalid&gt;;tag=",
        "identity_re": r"P-Asserted-Identity: &lt;sip:5855550142@127\.0\.0\.3&gt;", "privacy_re": "Privacy: id",
        "status": 486})
    out = p.cli("trunk", "add", "b-second", "--host", CARRIER_IP, "--port", str(second_port),
                "--number-format", "national", "--caller-id", "pai", "--codecs", "pcmu").stdout
    assert "added trunk b-second" in out
    listing = p.cli("trunk", "list").stdout
    assert "keepalive off numbers national caller-id pai max-calls any codecs pcmu patterns any" in listing, listing
    assert "keepalive 2s numbers e164 caller-id from" in listing, listing
    p.start()
    t = wait_for(lambda: trunks(p).get("a-first", {}).get("state") == "down" and trunks(p)["a-first"],
                 secs=10, what="the first trunk down")
    assert t["reason"] == "OPTIONS answered 503 (2 in a row)", t
    down.assert_ok(timeout=5)
    assert "a-first" in p.cli("status", "--http", f"127.0.0.1:{p.http_port}").stdout
    phone = Client(p.sip_port, p.sip_port + 2)
    status, _ = phone.call("100", "secret100", "*6795855550123")
    phone.close()
    assert status == 486, status
    # The second carrier's scenario checked the number, the anonymous From, P-Asserted-Identity with
    # the user's number in national form, and Privacy: id (a mismatch fails its run).
    second.assert_ok(timeout=5)
    # The record: an outside call, through the second trunk, to the number in E.164.
    code, body, _ = api_call(p, "GET", "/api/v1/me/calls", auth=("100", "secret100"))
    assert code == 200, body
    got = [(c["number"], c["outside"], c["trunk"], c["outcome"]) for c in body["items"]]
    assert got == [("+15855550123", True, "b-second", "busy")], got
    # The first carrier answers again: the trunk is up at its next keep-alive.
    up = sipp(p, "carrier_options.xml", port=first_port, subst={"status": 200}, ip=CARRIER_IP, m=1)
    wait_for(lambda: trunks(p)["a-first"]["state"] == "peer", secs=8, what="the first trunk up again")
    up.assert_ok(timeout=5)
    status = json.loads(p.cli("trunk", "status", "--http", f"127.0.0.1:{p.http_port}", "--json").stdout)
    assert [t["calls"] for t in status] == [0, 0], status
