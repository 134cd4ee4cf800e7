"""Parley's JSON REST API through a real HTTP client (urllib) against the running binary: the OpenAPI
document validates and a property-based run (schemathesis) finds no server errors; accounts, privileges
and tokens; voicemail messages and greetings; ManagerAssistant groups shared with the Callisto API;
JSON errors naming the field; the audit log."""
import base64
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from peers import dominant_frequency
from vmhelp import messages, pcm_tone, ulaw_tone
import wave
import io

ADMIN = ("100", "adminpw100")


def call(p, method, path, body=None, auth=ADMIN, raw=None, headers=None):
    """One request; returns (status, parsed JSON or raw bytes, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{p.http_port}{path}", data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if isinstance(auth, tuple):
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    elif isinstance(auth, str):
        req.add_header("Authorization", f"Bearer {auth}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, content, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, content, hdrs = e.code, e.read(), e.headers
    if hdrs.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(content), hdrs
    return status, content, hdrs


def send_tolerating_an_early_answer(p, method, path, data, auth):
    """Send a body the server may refuse before reading it all (it answers and closes at once)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", p.http_port, timeout=15)
    conn.putrequest(method, path)
    conn.putheader("Content-Length", str(len(data)))
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    conn.endheaders()
    try:
        conn.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if r.getheader("Content-Type", "").startswith("application/json") else body


@pytest.fixture
def api(parley_factory):
    def make(**config):
        p = parley_factory(**config)
        p.cli("user", "add", "100", "--name", "Admin", "--password", "adminpw100", "--privilege", "admin")
        p.add_user("101", "secret101")
        p.add_user("102", "secret102")
        p.cli("ma-instance", "add", "MA")
        return p.start()
    return make


def test_openapi_document_validates_and_a_property_based_run_finds_no_server_errors(api, tmp_path):
    p = api(auth_max_failures=1000000)
    status, doc, _ = call(p, "GET", "/api/v1/openapi.json", auth=None)
    assert status == 200
    from openapi_spec_validator import validate
    validate(doc)
    for path in ["/api/v1/me", "/api/v1/users", "/api/v1/mailboxes/{extension}/messages",
                 "/api/v1/mailboxes/{extension}/messages/{id}/audio", "/api/v1/mailboxes/{extension}/greetings/{kind}",
                 "/api/v1/ma/{instance}/groups/{id}", "/api/v1/audit", "/api/v1/tokens", "/api/v1/trunks",
                 "/api/v1/trunks/{name}", "/api/v1/dids/{number}"]:
        assert path in doc["paths"], path
    r = subprocess.run(
        ["schemathesis", "run", f"http://127.0.0.1:{p.http_port}/api/v1/openapi.json", "-a", "100:adminpw100",
         "-c", "not_a_server_error", "-n", "12", "--generation-deterministic",
         # a raw audio/wav body cannot be generated from a schema; uploads are tested below
         "--exclude-operation-id", "put_greeting",
         # a trunk made up by the generator would have the SIP server send OPTIONS and REGISTERs to
         # its made-up host, off this machine; trunks are tested in test_trunk_admin.py
         "--exclude-operation-id", "create_trunk", "--exclude-operation-id", "patch_trunk"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:]
    assert "Server error" not in r.stdout


@pytest.mark.postgres
def test_accounts_privileges_tokens_and_json_errors(api):
    p = api()
    status, body, _ = call(p, "GET", "/api/v1/me", auth=None)
    assert status == 401 and body["code"] == "unauthorized"
    status, body, _ = call(p, "GET", "/api/v1/users", auth=("101", "secret101"))
    assert status == 403 and body["code"] == "forbidden"
    user = {"extension": "103", "name": "Carol", "password": "carolpw103", "privileges": ["groups"]}
    status, body, _ = call(p, "POST", "/api/v1/users", user)
    assert status == 201 and body["privileges"] == ["groups"]
    status, body, _ = call(p, "POST", "/api/v1/users", user)
    assert status == 409 and body["code"] == "conflict"
    for bad, field in [({"extension": "x"}, "extension"), ({"pin": "12"}, "pin"), ({"privileges": ["root"]}, "privileges"),
                       ({"email": "nope"}, "email"), ({"password": "ab"}, "password")]:
        status, body, _ = call(p, "POST", "/api/v1/users", {**user, "extension": "104", **bad})
        assert (status, body["code"], body["field"]) == (400, "invalid", field), (bad, body)
    status, body, _ = call(p, "POST", "/api/v1/users", {"extension": "105"})
    assert status == 422 and body["field"] == "body"
    status, body, _ = call(p, "GET", "/api/v1/users?page=1&per_page=2")
    assert (len(body["items"]), body["total"], body["per_page"]) == (2, 4, 2)
    status, body, _ = call(p, "GET", "/api/v1/users?page=2&per_page=2")
    assert [u["extension"] for u in body["items"]] == ["102", "103"]
    status, body, _ = call(p, "GET", "/api/v1/users/abc/", auth=("101", "secret101"))
    assert status == 404
    # One's own profile and PIN.
    status, body, _ = call(p, "PATCH", "/api/v1/me", {"name": "Bob B", "always_prompt": False}, auth=("101", "secret101"))
    assert status == 200 and (body["name"], body["always_prompt"]) == ("Bob B", False)
    status, body, _ = call(p, "PUT", "/api/v1/me/pin", {"pin": "1234"}, auth=("101", "secret101"))
    assert status == 400 and body["field"] == "pin"
    status, _, _ = call(p, "PUT", "/api/v1/me/pin", {"pin": "2580"}, auth=("101", "secret101"))
    assert status == 204
    # Tokens: created once, used as Bearer, revoked.
    status, body, _ = call(p, "POST", "/api/v1/tokens", {"name": "crm"}, auth=("101", "secret101"))
    assert status == 201 and body["token"].startswith("pk_")
    token, tid = body["token"], body["id"]
    status, body, _ = call(p, "GET", "/api/v1/me", auth=token)
    assert status == 200 and body["extension"] == "101"
    status, body, _ = call(p, "GET", "/api/v1/tokens", auth=token)
    assert [t["name"] for t in body] == ["crm"] and "token" not in body[0]
    status, _, _ = call(p, "DELETE", f"/api/v1/tokens/{tid}", auth=token)
    assert status == 204
    status, _, _ = call(p, "GET", "/api/v1/me", auth=token)
    assert status == 401
    status, body, _ = call(p, "GET", "/api/v1/audit?per_page=100")
    actions = [e["action"] for e in body["items"]]
    for a in ["user.add", "me.update", "me.pin", "token.create", "token.delete"]:
        assert a in actions, a
    assert "2580" not in json.dumps(body) and "carolpw103" not in json.dumps(body)


def wav_bytes(samples_path):
    return open(samples_path, "rb").read()


@pytest.mark.postgres
def test_voicemail_messages_and_greetings_over_the_api(api, sipp, tmp_path):
    p = api()
    wav = ulaw_tone(tmp_path / "t.wav", 440, 13)
    sipp(p, "uac_vm_stream.xml", port=p.sip_port + 10, user="102", password="secret102", service="101",
         subst={"caller": "102", "wav": wav, "hold": 10000, "te": ""}).assert_ok()
    (m,) = messages(p, "101")
    bob = ("101", "secret101")
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/messages?new=true", auth=bob)
    assert status == 200 and [x["id"] for x in body["items"]] == [m["id"]]
    assert body["items"][0]["caller"] == "102" and body["items"][0]["new"] is True
    status, _, _ = call(p, "GET", "/api/v1/mailboxes/101/messages", auth=("102", "secret102"))
    assert status == 403
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/messages?folder=attic", auth=bob)
    assert status == 400 and body["field"] == "folder"
    status, audio, hdrs = call(p, "GET", f"/api/v1/mailboxes/101/messages/{m['id']}/audio", auth=bob)
    assert status == 200 and hdrs["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(audio)) as w:
        raw = w.readframes(w.getnframes())
    samples = [int.from_bytes(raw[i:i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    freq, share = dominant_frequency(samples[:8000], 8000)
    assert abs(freq - 440) <= 10 and share > 0.8
    status, body, _ = call(p, "PATCH", f"/api/v1/mailboxes/101/messages/{m['id']}", {"folder": "work"}, auth=bob)
    assert status == 200 and (body["folder"], body["new"]) == ("work", False)
    status, body, _ = call(p, "POST", f"/api/v1/mailboxes/101/messages/{m['id']}/forward", {"to": "102"}, auth=bob)
    assert status == 201 and body["mailbox"] == "102"
    assert [x["folder"] for x in messages(p, "102")] == ["new"]
    status, body, _ = call(p, "POST", f"/api/v1/mailboxes/101/messages/{m['id']}/forward", {"to": "999"}, auth=bob)
    assert status == 404
    status, _, _ = call(p, "DELETE", f"/api/v1/mailboxes/101/messages/{m['id']}", auth=bob)
    assert status == 204 and messages(p, "101") == []
    status, _, _ = call(p, "DELETE", f"/api/v1/mailboxes/101/messages/{m['id']}", auth=bob)
    assert status == 404
    # Greetings: upload in the seed's format, refuse garbage without replacing, list, download, delete.
    good = wav_bytes(pcm_tone(tmp_path / "g.wav", 600, 1.5))
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/greetings/busy", raw=good, auth=bob,
                           headers={"Content-Type": "audio/wav"})
    assert status == 200 and body["duration_ms"] == 1500
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/greetings/busy", raw=b"RIFF....garbage", auth=bob,
                           headers={"Content-Type": "audio/wav"})
    assert status == 400 and body["field"] == "body" and "not an audio file" in body["message"]
    status, body = send_tolerating_an_early_answer(p, "PUT", "/api/v1/mailboxes/101/greetings/busy",
                                                   b"\0" * (33 << 20), auth=bob)
    assert status == 413 and "larger than 32 MB" in body["message"], body
    status, audio, _ = call(p, "GET", "/api/v1/mailboxes/101/greetings/busy", auth=bob)
    assert audio == good
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/greetings", auth=bob)
    assert {g["kind"]: g["recorded"] for g in body} == {
        "unavailable": False, "busy": True, "name": False, "temporary": False,
        "announcement-a": False, "announcement-b": False, "announcement-c": False}
    # Its length, from the file's header or the database's row, never from reading it whole.
    assert {g["kind"]: g["duration_ms"] for g in body if g["recorded"]} == {"busy": 1500}
    # Announcements: Standard records by default; a custom one must be recorded before it is active.
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/announcements", auth=bob)
    assert body == {"active": "standard", "recording": {"standard": True, "a": False, "b": False, "c": False}}
    choice = {"active": "b", "recording": {"standard": True, "a": False, "b": True, "c": False}}
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/announcements", choice, auth=bob)
    assert status == 400 and "Announcement B has no recording" in body["message"]
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/greetings/announcement-b", raw=good, auth=bob)
    assert status == 200 and body["converted"] is False and body["active"] is False
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/announcements", choice, auth=bob)
    assert status == 200 and body == choice
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/greetings", auth=bob)
    assert [g["kind"] for g in body if g["active"]] == ["busy", "announcement-b"]
    status, body, _ = call(p, "PUT", "/api/v1/mailboxes/101/greetings/temporary/active", {"active": True}, auth=bob)
    assert status == 400 and body["field"] == "active"
    status, _, _ = call(p, "DELETE", "/api/v1/mailboxes/101/greetings/busy", auth=bob)
    assert status == 204
    status, body, _ = call(p, "GET", "/api/v1/mailboxes/101/greetings/loud", auth=bob)
    assert status == 400 and body["field"] == "kind"


def test_groups_are_one_model_for_the_json_and_the_callisto_api(api):
    p = api()
    p.cli("user", "set", "102", "--privilege", "rest")
    carol = ("101", "secret101")
    status, body, _ = call(p, "POST", "/api/v1/ma/MA/groups", {"name": "Sales"}, auth=carol)
    assert status == 403
    p.cli("user", "set", "101", "--privilege", "groups")
    status, body, _ = call(p, "POST", "/api/v1/ma/MA/groups", {"name": "Sales", "ring_parallel": True,
                                                               "overflow": "voicemail:101"}, auth=carol)
    assert status == 201 and body["overflow"] == "voicemail:101" and body["show_vip_call"] == 1
    gid = body["id"]
    status, body, _ = call(p, "PATCH", f"/api/v1/ma/MA/groups/{gid}", {"overflow": "nowhere"}, auth=carol)
    assert status == 400 and body["field"] == "overflow"
    status, body, _ = call(p, "POST", "/api/v1/ma/MA/groups", {"name": "sales"}, auth=carol)
    assert status == 409
    status, body, _ = call(p, "GET", "/api/v1/ma/Nope/groups", auth=carol)
    assert status == 404
    # The Callisto API sees the JSON-created group and changes it; the JSON API sees the change.
    out = subprocess.run(["curl", "-s", "--user", "102:secret102", "--data", f"gr_id={gid}&gr_showVIPcall=marked",
                          f"http://127.0.0.1:{p.http_port}/Applications/inbound/MA/rest/groups/editGroup.asp"],
                         capture_output=True, text=True, check=True).stdout
    assert "<Response>OK</Response>" in out
    status, body, _ = call(p, "GET", f"/api/v1/ma/MA/groups/{gid}", auth=("102", "secret102"))
    assert status == 200 and body["show_vip_call"] == 2 and body["ring_parallel"] is True
    status, _, _ = call(p, "DELETE", f"/api/v1/ma/MA/groups/{gid}", auth=("102", "secret102"))
    assert status == 403  # rest may read, only groups may change
    status, _, _ = call(p, "DELETE", f"/api/v1/ma/MA/groups/{gid}", auth=carol)
    assert status == 204
    # Instances by the API (administrators), usable at once by the Callisto API.
    status, _, _ = call(p, "POST", "/api/v1/ma", {"name": "Branch"}, auth=carol)
    assert status == 403
    status, body, _ = call(p, "POST", "/api/v1/ma", {"name": "Branch"})
    assert status == 201
    status, body, _ = call(p, "POST", "/api/v1/ma", {"name": "bad name"})
    assert status == 400 and body["field"] == "name"
    status, body, _ = call(p, "GET", "/api/v1/ma", auth=carol)
    assert [i["name"] for i in body] == ["Branch", "MA"]
    out = subprocess.run(["curl", "-s", "--user", "102:secret102", "--data", "gr_name=Front desk",
                          f"http://127.0.0.1:{p.http_port}/Applications/inbound/Branch/rest/groups/addGroup.asp"],
                         capture_output=True, text=True, check=True).stdout
    assert "<status>OK</status>" in out
    status, _, _ = call(p, "DELETE", "/api/v1/ma/Branch")
    assert status == 204


def test_browser_sessions_use_httponly_samesite_cookies_and_csrf(api):
    p = api()
    status, body, _ = call(p, "POST", "/api/v1/session", {"extension": "101", "password": "wrong"}, auth=None)
    assert status == 401
    status, body, hdrs = call(p, "POST", "/api/v1/session", {"extension": "101", "password": "secret101"}, auth=None,
                              headers={"X-Forwarded-Proto": "https"})
    assert status == 201 and body["extension"] == "101"
    cookie = hdrs["Set-Cookie"]
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"]:
        assert attr in cookie, cookie
    session = cookie.split(";")[0]
    csrf = body["csrf_token"]
    status, body, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": session})
    assert status == 200 and body["extension"] == "101"
    status, body, _ = call(p, "PATCH", "/api/v1/me", {"name": "Via Browser"}, auth=None, headers={"Cookie": session})
    assert status == 403 and body["code"] == "csrf"
    status, body, _ = call(p, "PATCH", "/api/v1/me", {"name": "Via Browser"}, auth=None,
                           headers={"Cookie": session, "X-CSRF-Token": "0" * 64})
    assert status == 403 and body["code"] == "csrf"
    status, body, _ = call(p, "PATCH", "/api/v1/me", {"name": "Via Browser"}, auth=None,
                           headers={"Cookie": session, "X-CSRF-Token": csrf})
    assert status == 200 and body["name"] == "Via Browser"
    status, _, hdrs = call(p, "DELETE", "/api/v1/session", auth=None, headers={"Cookie": session, "X-CSRF-Token": csrf})
    assert status == 204 and "Max-Age=0" in hdrs["Set-Cookie"]
    status, _, _ = call(p, "GET", "/api/v1/me", auth=None, headers={"Cookie": session})
    assert status == 401
    # Over plain HTTP the cookie is not marked Secure (browsers would drop it), the rest stays.
    _, _, hdrs = call(p, "POST", "/api/v1/session", {"extension": "101", "password": "secret101"}, auth=None)
    assert "HttpOnly" in hdrs["Set-Cookie"] and "Secure" not in hdrs["Set-Cookie"]
