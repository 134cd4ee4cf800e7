"""Registration with digest authentication, driven by SIPp against the real binary."""
import pytest


@pytest.mark.postgres
def test_right_password_registers_after_a_401_challenge(parley_factory, sipp):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.start()
    port = p.sip_port + 2
    sipp(p, "register.xml", port=port, user="100", password="secret100", service="100", keys={"expires": 120}).assert_ok()
    regs = p.status()["registrations"]
    assert [(r["extension"], r["source"]) for r in regs] == [("100", f"udp:127.0.0.1:{port}")]
    assert 110 <= regs[0]["expires_in"] <= 120


def test_wrong_password_is_refused_with_403(parley_factory, sipp):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.start()
    sipp(p, "register_fails.xml", port=p.sip_port + 2, user="100", password="wrong", service="100",
         keys={"expires": 60}, subst={"status": 403}).assert_ok()
    assert p.status()["registrations"] == []


def test_unknown_user_is_refused_with_403(parley_factory, sipp):
    p = parley_factory()
    p.start()
    sipp(p, "register_fails.xml", port=p.sip_port + 2, user="555", password="x", service="555",
         keys={"expires": 60}, subst={"status": 403}).assert_ok()


def test_expired_nonce_gets_401_with_stale_true(parley_factory, sipp):
    p = parley_factory(nonce_ttl_secs=1)
    p.add_user("100", "secret100")
    p.start()
    sipp(p, "register_stale.xml", port=p.sip_port + 2, user="100", password="secret100", service="100",
         keys={"expires": 60}, subst={"pause": 2500}).assert_ok()


def test_unregister_with_expires_zero_removes_the_binding(parley_factory, sipp):
    p = parley_factory()
    p.add_user("100", "secret100")
    p.start()
    port = p.sip_port + 2
    sipp(p, "register.xml", port=port, user="100", password="secret100", service="100", keys={"expires": 60}).assert_ok()
    assert len(p.status()["registrations"]) == 1
    sipp(p, "register.xml", port=port, user="100", password="secret100", service="100", keys={"expires": 0}).assert_ok()
    assert p.status()["registrations"] == []


def test_demo_provisions_five_extensions_whose_printed_passwords_register(parley_factory, sipp):
    import re

    p = parley_factory()
    p.start("--demo")
    text = p.log.read_text()
    creds = dict(re.findall(r"^\s+(10[0-4])\s+.*?password (\S+)\s+voicemail PIN \d+", text, re.M))
    assert sorted(creds) == ["100", "101", "102", "103", "104"], text
    assert [u.split()[0] for u in p.cli("user", "list").stdout.splitlines()[1:]] == sorted(creds)
    sipp(p, "register.xml", port=p.sip_port + 2, user="104", password=creds["104"], service="104",
         keys={"expires": 60}).assert_ok()
    # A second start keeps the accounts and says so instead of printing new passwords.
    p.stop()
    p.start("--demo")
    assert "already provisioned" in p.log.read_text()


def test_repeated_wrong_passwords_lock_out_the_address_and_the_account(parley_factory, sipp):
    from sipclient import Client

    p = parley_factory(auth_max_failures=3, auth_lockout_secs=60)
    p.add_user("100", "secret100")
    p.start()
    sipp(p, "register_fails.xml", port=p.sip_port + 2, user="100", password="guess", service="100", m=3,
         keys={"expires": 60}, subst={"status": 403}).assert_ok()
    # Now even the right password is refused at once, without a challenge to answer.
    status, _ = Client(p.sip_port, p.sip_port + 8).request("REGISTER", f"sip:127.0.0.1:{p.sip_port}", "100",
                                                          extra="Expires: 60\r\n")
    assert status == 403
    locked = {l["what"] for l in p.status()["lockouts"]}
    assert locked == {"account 100", "address 127.0.0.1"}
    assert "guess" not in p.log.read_text()
    assert "Lockouts (2)" in p.cli("status", "--http", f"127.0.0.1:{p.http_port}").stdout
