"""Notifications end to end: a SIPp caller leaves a message and Parley emails it through a real SMTP
server (aiosmtpd) with the WAV attached; a dead or silent mail server delays nothing and the email
arrives after retries, also across a restart of Parley; SMS through an HTTP gateway that answers 500
and then recovers; signed webhooks for new, read and deleted messages; permanent failures kept for
the administrator and retried; mark-as-read lights no lamp."""
import email
import email.policy
import hashlib
import hmac
import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import next_ports
from test_json_api import call
from test_voicemail import deposit, wait_for
from vmhelp import message_file, messages, tone_of

ADMIN = ("100", "secret100")


class Mailbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope)
        return "250 OK"


class SmtpSink:
    """A real SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, port, **options):
        self.port = port
        self.box = Mailbox()
        self.controller = None
        self.options = options
        self.logins = []

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((mechanism, auth_data.login, auth_data.password, session.ssl is not None))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"parley", b"mail-pw"))

    def start(self):
        opts = dict(self.options)
        if opts.pop("auth", False):
            opts.update(authenticator=self.authenticate, auth_required=True)
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port, **opts)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages(self):
        return [email.message_from_bytes(e.original_content, policy=email.policy.default)
                for e in self.box.received]


class Silent:
    """A TCP listener that accepts connections and never says a word (a hung mail server)."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        # shutdown() wakes the thread blocked in accept(); close() alone would leave it listening.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


class Receiver:
    """A local HTTP server recording every request; answers from a per-path script, then 200."""

    def __init__(self, port):
        self.requests = []  # noqa
        self.script = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                outer.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                                       "at": time.time()})
                codes = outer.script.get(path, [])
                code = codes.pop(0) if codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{port}"

    def to(self, path):
        return [r for r in self.requests if r["path"].split("?")[0] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peers():
    made = []

    def make(kind, port, **options):
        obj = kind(port, **options)
        made.append(obj)
        return obj

    yield make
    for o in made:
        (o.stop if hasattr(o, "stop") else o.close)()


def make_ca_and_cert(d):
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Parley Test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    return d / "ca.pem", ctx


def start(parley_factory, **config):
    p = parley_factory(**config)
    p.cli("user", "add", "100", "--name", "User 100", "--password", "secret100", "--privilege", "admin")
    p.cli("user", "add", "101", "--name", "Bob Builder", "--password", "secret101", "--email", "bob@example.com",
          "--mobile", "+1 555 0101")
    p.add_user("102", "secret102")
    return p


def outbox(p, state=None):
    args = ["outbox", "list", "--json"] + (["--state", state] if state else [])
    return json.loads(p.cli(*args).stdout)


def attachment(msg):
    parts = [part for part in msg.iter_attachments() if part.get_content_type() == "audio/wav"]
    assert len(parts) == 1, [p.get_content_type() for p in msg.iter_attachments()]
    return parts[0].get_content()


@pytest.mark.postgres
def test_a_new_message_is_emailed_with_its_audio_and_mark_as_read_lights_no_lamp(parley_factory, peers, sipp,
                                                                                  tmp_path):
    smtp = peers(SmtpSink, next_ports()).start()
    p = start(parley_factory, portal_url="http://pbx.example.com:8080",
              smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"})
    p.cli("mailbox", "set", "101", "--forward-email", "on", "--mark-read", "on")
    p.start()
    sub = sipp(p, "mwi_refresh.xml", port=p.sip_port + 16, user="101", password="secret101", service="101",
               subst={"c1": "0/0", "c2": "0/1", "waiting": "no"})
    wait_for(lambda: p.status()["mwi_subscriptions"] == 1, what="the subscription")
    deposit(p, sipp, tmp_path, caller="102", hold=10000).assert_ok()
    # Mark as read: stored old, and the lamp's subscriber is told 0 new / 1 old, "Messages-Waiting: no".
    sub.assert_ok(timeout=20)
    [m] = messages(p, "101")
    assert m["folder"] == "old"
    mail = wait_for(lambda: smtp.messages(), what="the email")
    assert len(mail) == 1
    msg = mail[0]
    env = smtp.box.received[0]
    assert env.rcpt_tos == ["bob@example.com"]
    assert msg["To"] == "bob@example.com"
    assert msg["From"] == "Parley Voicemail <voicemail@localhost>"
    secs = (m["duration_ms"] + 500) // 1000
    assert msg["Subject"] == f"New voicemail from User 102 (102) (0:{secs:02d})"
    assert msg["Date"] and msg["Message-ID"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Bob Builder" in body and "User 102 (102)" in body and f"0:{secs:02d}" in body
        assert f"http://pbx.example.com:8080/messages/{m['id']}" in body
        assert time.strftime("%B", time.localtime(m["received_at"])) in body
    assert "Mailbox:  101" in text
    # The attachment is the message itself: same bytes as stored, the caller's 440 Hz.
    wav = attachment(msg)
    assert wav == message_file(p, m).read_bytes()
    got = tmp_path / "attached.wav"
    got.write_bytes(wav)
    (freq, share), level = tone_of(got)
    assert abs(freq - 440) <= 10 and share > 0.8 and level > 3000, (freq, share, level)
    [row] = outbox(p)
    assert (row["channel"], row["state"], row["attempts"]) == ("email", "sent", 1)


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_over_starttls_or_tls_with_a_login(parley_factory, peers, sipp, tmp_path, security):
    ca, ctx = make_ca_and_cert(tmp_path)
    # aiosmtpd counts only STARTTLS as TLS when deciding to offer AUTH; on a TLS-wrapped port the whole
    # connection is encrypted (a plain client fails the handshake), so AUTH is offered there too.
    tls = ({"tls_context": ctx, "require_starttls": True} if security == "starttls"
           else {"ssl_context": ctx, "auth_require_tls": False})
    smtp = peers(SmtpSink, next_ports(), auth=True, **tls).start()
    p = start(parley_factory, smtp={"host": "127.0.0.1", "port": smtp.port, "security": security,
                                    "ca_file": str(ca), "username": "parley", "password": "mail-pw"})
    p.cli("mailbox", "set", "101", "--forward-email", "on")
    p.start()
    deposit(p, sipp, tmp_path).assert_ok()
    [mail] = wait_for(lambda: smtp.messages(), what="the email")
    assert attachment(mail) == message_file(p, messages(p, "101")[0]).read_bytes()
    # Logged in with the configured account, over an encrypted connection.
    assert [(user, pw) for _, user, pw, _ in smtp.logins] == [(b"parley", b"mail-pw")]
    if security == "starttls":
        assert smtp.logins[0][3], "AUTH came after STARTTLS"


def test_a_silent_then_dead_mail_server_delays_nothing_and_the_email_arrives_after_retries_and_a_restart(
        parley_factory, peers, sipp, tmp_path):
    port = next_ports()
    hung = Silent(port)
    p = start(parley_factory, smtp={"host": "127.0.0.1", "port": port, "security": "none", "timeout_secs": 1},
              email={"attach": "ulaw", "subject": "Voicemail {{message_id}} for {{mailbox}}"},
              outbox={"retry_base_secs": 1, "retry_max_secs": 2, "max_attempts": 1000})
    p.cli("mailbox", "set", "101", "--forward-email", "on")
    p.start()
    # The mail server accepts the connection and never answers: the call is not held up.
    t0 = time.time()
    deposit(p, sipp, tmp_path, hold=12000).assert_ok()
    assert time.time() - t0 < 20
    # The message is saved a moment after the caller's BYE (the recording is finalized first).
    [m1] = wait_for(lambda: messages(p, "101"), secs=5, what="the message")
    row = wait_for(lambda: [r for r in outbox(p) if r["attempts"] >= 2], what="retries")[0]
    assert row["state"] == "pending" and row["last_error"].startswith("SMTP") and "timed out" in row["last_error"], row
    # The server comes back: the email follows within the back-off.
    hung.close()
    smtp = peers(SmtpSink, port).start()
    mail = wait_for(lambda: smtp.messages(), secs=15, what="the email after the server came back")
    assert mail[0]["Subject"] == f"Voicemail {m1['id']} for 101"
    ulaw = attachment(mail[0])
    assert ulaw[20:22] == b"\x07\x00", "µ-law WAV"
    assert len(ulaw) < message_file(p, m1).stat().st_size / 2 + 100
    # Down again: a second message waits in the outbox across a restart of Parley.
    smtp.stop()
    deposit(p, sipp, tmp_path, hold=12000).assert_ok()
    wait_for(lambda: [r for r in outbox(p) if r["state"] == "pending" and r["attempts"] >= 1
                      and "SMTP" in (r["last_error"] or "")], what="a failed attempt on the second email")
    assert p.stop() == 0
    smtp.start()
    p.start()
    mail = wait_for(lambda: len(smtp.messages()) >= 2 and smtp.messages(), secs=20,
                    what="the second email after the restart")
    m2 = messages(p, "101")[1]
    assert mail[1]["Subject"] == f"Voicemail {m2['id']} for 101"
    time.sleep(1.5)
    assert len(smtp.messages()) == 2, "each email sent once"
    assert {r["state"] for r in outbox(p)} == {"sent"}


def test_sms_through_a_gateway_that_fails_then_recovers_and_signed_webhooks_for_new_read_and_deleted(
        parley_factory, peers, sipp, tmp_path):
    web = peers(Receiver, next_ports())
    web.script["/sms"] = [500, 503]
    p = start(parley_factory,
              sms={"url": web.url + "/sms?to={{to}}", "headers": {"Authorization": "Bearer gw-token"},
                   "text": "Voicemail from {{caller}}, {{duration}}"},
              outbox={"retry_base_secs": 1, "retry_max_secs": 2})
    p.cli("user", "set", "101", "--privilege", "sms")
    p.cli("mailbox", "set", "101", "--sms", "on")
    p.start()
    status, hook, _ = call(p, "POST", "/api/v1/webhooks", {"url": web.url + "/hook"}, auth=ADMIN)
    assert status == 201 and hook["events"] == ["message.deleted", "message.new", "message.read"], hook
    secret = hook["secret"].encode()
    # An account without the privilege cannot switch SMS on.
    status, err, _ = call(p, "PATCH", "/api/v1/me", {"send_sms": True}, auth=("102", "secret102"))
    assert status == 400 and err["field"] == "send_sms"

    deposit(p, sipp, tmp_path, hold=12000).assert_ok()
    [m] = messages(p, "101")
    sms = wait_for(lambda: len(web.to("/sms")) >= 3 and web.to("/sms"), what="the SMS after two 500s")
    assert len(sms) == 3
    assert sms[2]["at"] - sms[0]["at"] >= 2.5, "back-off between attempts"
    last = sms[2]
    assert last["path"] == "/sms?to=%2B15550101"
    assert last["headers"]["authorization"] == "Bearer gw-token"
    assert last["headers"]["content-type"] == "application/json"
    secs = (m["duration_ms"] + 500) // 1000
    assert json.loads(last["body"]) == {"to": "+15550101", "text": f"Voicemail from User 100 (100), 0:{secs:02d}"}

    def events():
        return [json.loads(r["body"]) for r in web.to("/hook")]

    wait_for(lambda: events(), what="the message.new webhook")
    # Read (moved out of New through the API), then deleted.
    assert call(p, "PATCH", f"/api/v1/mailboxes/101/messages/{m['id']}", {"new": False}, auth=ADMIN)[0] == 200
    assert call(p, "DELETE", f"/api/v1/mailboxes/101/messages/{m['id']}", auth=ADMIN)[0] == 204
    got = wait_for(lambda: len(events()) >= 3 and events(), what="read and deleted webhooks")
    assert [e["event"] for e in got] == ["message.new", "message.read", "message.deleted"]
    for r, e in zip(web.to("/hook"), got):
        assert e["message"]["id"] == m["id"] and e["message"]["mailbox"] == "101"
        assert r["headers"]["x-parley-event"] == e["event"]
        assert r["headers"]["x-parley-delivery"] == str(e["id"])
        t, v1 = (kv.split("=", 1)[1] for kv in r["headers"]["x-parley-signature"].split(","))
        want = hmac.new(secret, f"{t}.".encode() + r["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, want)
        assert abs(int(t) - time.time()) < 30
    assert got[0]["message"]["caller"] == "100"
    status, page, _ = call(p, "GET", "/api/v1/outbox?state=sent", auth=ADMIN)
    [sms_row] = [i for i in page["items"] if i["channel"] == "sms"]
    assert sms_row["attempts"] == 3 and sms_row["message_id"] == m["id"]


def test_permanent_failures_are_kept_for_the_administrator_and_can_be_retried(parley_factory, peers, sipp,
                                                                             tmp_path):
    web = peers(Receiver, next_ports())
    web.script["/hook"] = [410]
    p = start(parley_factory, outbox={"retry_base_secs": 1})
    p.cli("mailbox", "set", "101", "--forward-email", "on")
    out = p.cli("webhook", "add", web.url + "/hook", "--event", "message.new").stdout
    assert "signing secret (shown once): " in out
    p.start()
    deposit(p, sipp, tmp_path, hold=12000).assert_ok()
    failed = wait_for(lambda: len(outbox(p, "failed")) == 2 and outbox(p, "failed"), what="two failures")
    reasons = {r["channel"]: (r["attempts"], r["last_error"]) for r in failed}
    # No SMTP server configured, and a webhook that answered 410 Gone: neither is retried by itself.
    assert reasons["email"] == (1, "no SMTP server is configured ([smtp] host)")
    assert reasons["webhook"][0] == 1 and "410" in reasons["webhook"][1]
    listing = p.cli("outbox", "list", "--failed").stdout
    assert "410 Gone" in listing and "no SMTP server" in listing
    status, page, _ = call(p, "GET", "/api/v1/outbox?state=failed", auth=ADMIN)
    assert status == 200 and page["total"] == 2
    assert call(p, "GET", "/api/v1/outbox", auth=("101", "secret101"))[0] == 403
    time.sleep(2)
    assert len(web.to("/hook")) == 1, "a permanent failure is not retried"
    # The receiver is fixed; the administrator retries the webhook through the API.
    hook_row = next(r for r in failed if r["channel"] == "webhook")
    status, body, _ = call(p, "POST", f"/api/v1/outbox/{hook_row['id']}/retry", auth=ADMIN)
    assert status == 200 and body == {"retried": 1}
    wait_for(lambda: len(web.to("/hook")) == 2, what="the retried webhook")
    wait_for(lambda: [r for r in outbox(p, "sent") if r["id"] == hook_row["id"]], what="the webhook marked sent")
    # The CLI retries the rest; the email fails again for the same reason.
    assert "queued 1 notification(s) again" in p.cli("outbox", "retry", "--all").stdout
    wait_for(lambda: [r for r in outbox(p, "failed") if r["attempts"] == 1 and r["done_at"]], what="email re-failed")
