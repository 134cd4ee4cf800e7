"""Trunks end to end: Parley registers to a carrier played by SIPp (a digest registrar that checks
every REGISTER with verifyauth), configured with `parley trunk`, its state read with `parley trunk
status` and `parley status`."""
import re

import pytest

from vmhelp import wait_for

ACCOUNT = "4930123456"


def carrier(p, sipp, password, grant=10):
    """The carrier's registrar on its own port (inside the test's block)."""
    port = p.sip_port + 10
    return port, sipp(p, "carrier_register.xml", port=port, keys={"user": ACCOUNT, "password": password},
                      subst={"grant": grant})


def registers(run):
    """The REGISTERs the carrier saw: (milliseconds since it started, 'ok' | 'bad')."""
    text = "\n".join(f.read_text(errors="replace") for f in run.cwd.glob("*_logs.log"))
    return [(int(ms), what) for ms, what in re.findall(r"REGISTER (\d+) (\w+)", text)]


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
    out = p.cli("trunk", "add", "carrier", "--host", "127.0.0.1", "--port", str(port), "--username", ACCOUNT,
                "--password-stdin", "--expires", "600", input="Trunk-s3cret!\n").stdout
    assert "added trunk carrier (registering)" in out
    listing = p.cli("trunk", "list").stdout
    assert "carrier" in listing and "registering" in listing and " set " in listing
    p.start()
    t = wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "registered" and trunks(p)["carrier"],
                 what="registered")
    assert t["kind"] == "registering" and t["address"] == f"udp:127.0.0.1:{port}"
    assert 0 < t["expires_in"] <= 10, "the carrier's grant, not the 600 s asked for"
    # Refreshed at half the grant, with the kept nonce and the next nc (the carrier checks each one).
    wait_for(lambda: [w for _, w in registers(reg)].count("ok") >= 3, secs=14, what="two refreshes")
    seen = registers(reg)
    assert [w for _, w in seen].count("bad") == 1 and seen[0][1] == "bad", "challenged once, then accepted"
    oks = [ms for ms, w in seen if w == "ok"]
    assert all(4000 <= b - a <= 6500 for a, b in zip(oks, oks[1:])), oks
    status = p.cli("status", "--http", f"127.0.0.1:{p.http_port}").stdout
    assert re.search(r"carrier\s+registering\s+udp:127\.0\.0\.1:\d+\s+registered, expires in \d+s", status), status
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
    p.cli("trunk", "add", "carrier", "--host", "127.0.0.1", "--port", str(port), "--username", ACCOUNT,
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
