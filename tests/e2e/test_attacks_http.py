"""The attacker's tests on the HTTP side, against the real binary: the status and MWI control need an
administrator (or the local command line's token), a removed or demoted account's session loses its
rights at the next request, a password change ends the other sessions, the login's redirect stays on
this site, an oversized body is refused before any password is checked, 400 parallel guesses cost no
more argon2 checks than the lockout allows, control characters from strangers are escaped in the log
(the audit log stores them escaped: crates/store/src/audit.rs), and every response carries the security
headers."""
import concurrent.futures
import http.client
import urllib.parse

from test_json_api import call


def start(parley_factory, **config):
    p = parley_factory(**config)
    p.cli("user", "add", "100", "--name", "Admin", "--password", "adminpw100", "--privilege", "admin")
    p.add_user("101", "secret101")
    p.add_user("102", "secret102")
    return p.start()


def session(p, ext, password):
    status, body, hdrs = call(p, "POST", "/api/v1/session", {"extension": ext, "password": password}, auth=None)
    assert status == 201, (status, body)
    return hdrs["Set-Cookie"].split(";")[0], body["csrf_token"]


def test_status_and_mwi_control_answer_administrators_and_the_local_command_line_only(parley_factory):
    p = start(parley_factory)
    status, _, _ = call(p, "GET", "/api/v1/status", auth=None)
    assert status == 401
    status, _, _ = call(p, "GET", "/api/v1/status", auth=("101", "secret101"))
    assert status == 403
    status, body, _ = call(p, "GET", "/api/v1/status", auth=("100", "adminpw100"))
    assert status == 200 and "registrations" in body
    status, _, _ = call(p, "GET", "/api/v1/status", auth="not-the-control-token")
    assert status == 401
    status, _, _ = call(p, "POST", "/api/v1/mailboxes/101/mwi", {"on": True}, auth=None)
    assert status == 401
    status, _, _ = call(p, "POST", "/api/v1/mailboxes/101/mwi", {"on": True}, auth=("101", "secret101"))
    assert status == 403
    # The command line proves itself with the token in the data directory, readable by its user only.
    token = p.data / "control.token"
    assert token.stat().st_mode & 0o077 == 0
    out = p.cli("status", "--http", f"127.0.0.1:{p.http_port}").stdout
    assert "Registrations" in out or "registrations" in out.lower(), out
    out = p.cli("mailbox", "mwi", "101", "on", "--http", f"127.0.0.1:{p.http_port}").stdout
    assert "lamp of mailbox 101 set on" in out, out


def test_a_removed_or_demoted_account_loses_its_session_rights_at_the_next_request(parley_factory):
    p = start(parley_factory)
    cookie, _ = session(p, "102", "secret102")
    status, body, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": cookie})
    assert status == 200 and body["extension"] == "102"
    status, _, _ = call(p, "DELETE", "/api/v1/users/102", auth=("100", "adminpw100"))
    assert status == 204
    status, _, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": cookie})
    assert status == 401
    # An administrator demoted from the command line loses the admin pages at once.
    p.cli("user", "set", "101", "--privilege", "admin")
    cookie, _ = session(p, "101", "secret101")
    status, _, _ = call(p, "GET", "/api/v1/users", auth=None, headers={"Cookie": cookie})
    assert status == 200
    p.cli("user", "set", "101", "--privilege", "none")
    status, _, _ = call(p, "GET", "/api/v1/users", auth=None, headers={"Cookie": cookie})
    assert status == 403


def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(parley_factory):
    p = start(parley_factory)
    here, csrf = session(p, "101", "secret101")
    elsewhere, _ = session(p, "101", "secret101")
    headers = {"Cookie": here, "X-CSRF-Token": csrf}
    status, body, _ = call(p, "PUT", "/api/v1/me/password", {"password": "newpass101"}, auth=None, headers=headers)
    assert status == 422 and "current" in body["message"], body
    status, body, _ = call(p, "PUT", "/api/v1/me/password", {"current": "wrong", "password": "newpass101"},
                           auth=None, headers=headers)
    assert status == 403, body
    status, body, _ = call(p, "PUT", "/api/v1/me/password", {"current": "secret101", "password": "newpass101"},
                           auth=None, headers=headers)
    assert status == 204, body
    status, _, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": here})
    assert status == 200
    status, _, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": elsewhere})
    assert status == 401
    # A password set from the command line ends every session of the account.
    p.cli("user", "set", "101", "--password", "thirdpw101")
    status, _, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": here})
    assert status == 401


def portal_login(p, next_path, password="secret101"):
    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=10)
    body = urllib.parse.urlencode({"extension": "101", "password": password, "next": next_path})
    conn.request("POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, r.getheader("Location")


def test_the_login_redirect_stays_on_this_site(parley_factory):
    p = start(parley_factory)
    for evil in ["/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
                 "https://evil.example/", "/\n/evil.example", " //evil.example"]:
        status, location = portal_login(p, urllib.parse.unquote(evil) if "%" in evil else evil)
        assert status in (302, 303) and location == "/messages", (evil, status, location)
    status, location = portal_login(p, "/greetings?mailbox=101")
    assert location == "/greetings?mailbox=101"


def test_an_oversized_login_body_is_refused_before_any_password_is_checked(parley_factory):
    p = start(parley_factory)
    big = b'{"extension": "101", "password": "' + b"x" * (1 << 20) + b'"}'
    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=10)
    conn.putrequest("POST", "/api/v1/session")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(big)))
    conn.endheaders()
    try:
        conn.send(big)  # the answer may come, and the connection close, before all of it is sent
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert conn.getresponse().status == 413
    conn.close()
    # A chunked body (no Content-Length) is cut at the limit too.
    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=10)
    conn.putrequest("POST", "/api/v1/session")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"x" * 65536
    try:
        for _ in range(4):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        status = conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413
    conn.close()
    assert status == 413
    log = p.log.read_text()
    assert "HTTP login failed" not in log and "HTTP login refused" not in log


def test_parallel_wrong_logins_cost_no_more_checks_than_the_lockout_allows(parley_factory):
    p = start(parley_factory, auth_max_failures=10)

    def guess(i):
        return call(p, "POST", "/api/v1/session", {"extension": "101", "password": f"guess{i}"}, auth=None)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(guess, range(400)))
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 390, statuses
    assert p.log.read_text().count("HTTP login failed") == 10
    # The account is locked now, for the right password too.
    status, _, _ = call(p, "POST", "/api/v1/session", {"extension": "101", "password": "secret101"}, auth=None)
    assert status == 429


def test_control_characters_from_strangers_are_escaped_in_the_log(parley_factory):
    p = start(parley_factory)
    status, _, _ = call(p, "POST", "/api/v1/session", {"extension": "101\nINFO forged: admin logged in",
                                                       "password": "x"}, auth=None)
    assert status == 401
    log = p.log.read_text()
    assert "\nINFO forged" not in log
    assert "101\\nINFO forged" in log


def test_every_response_carries_the_security_headers(parley_factory):
    p = start(parley_factory)
    for path in ["/login", "/api/v1/openapi.json", "/health", "/messages"]:
        conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        csp = r.getheader("Content-Security-Policy") or ""
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (path, csp)
        assert r.getheader("X-Content-Type-Options") == "nosniff", path
        assert r.getheader("X-Frame-Options") == "DENY", path
        assert r.getheader("Referrer-Policy"), path
        conn.close()
