"""Trunks and the company's numbers as an administrator manages them without the command line: the
JSON API through a real HTTP client (the password write-only, every setting checked with the field
named, the running SIP server told at once, audited) and the portal's Trunks page in a real headless
Chromium (add, change, the live state, numbers). Non-administrators are refused both."""
import json

from playwright.sync_api import expect

from test_json_api import call
from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)
from test_trunks import CARRIER_IP, trunks
from vmhelp import wait_for

ADMIN = ("100", "adminpw100")
SECRET = "Tr&nk-s3cret!"


def admin_parley(parley_factory):
    p = parley_factory()
    p.cli("user", "add", "100", "--name", "Admin", "--password", "adminpw100", "--privilege", "admin")
    p.add_user("101", "secret101")
    return p.start()


def test_the_trunk_api_adds_checks_changes_and_removes_trunks_and_numbers_and_never_shows_the_password(
        parley_factory):
    p = admin_parley(parley_factory)
    new = {"name": "carrier", "host": CARRIER_IP, "port": p.sip_port + 10, "username": "4930123456",
           "password": SECRET, "register": False, "keepalive": 30, "caller_id": "pai", "codecs": ["pcma"]}
    status, body, _ = call(p, "POST", "/api/v1/trunks", new, auth=("101", "secret101"))
    assert status == 403 and body["code"] == "forbidden"
    status, body, _ = call(p, "GET", "/api/v1/trunks", auth=("101", "secret101"))
    assert status == 403
    status, body, _ = call(p, "POST", "/api/v1/trunks", new)
    assert status == 201, body
    assert (body["name"], body["kind"], body["password_set"], body["caller_id"], body["codecs"]) == (
        "carrier", "peer", True, "pai", ["pcma"]), body
    assert "password" not in body and SECRET not in json.dumps(body)
    status, body, _ = call(p, "POST", "/api/v1/trunks", new)
    assert status == 409 and body["code"] == "conflict", body
    # The running server was told at once: the trunk is up (an IP peer) in its status and the API's.
    wait_for(lambda: trunks(p).get("carrier", {}).get("state") == "peer", secs=5, what="the trunk running")
    status, body, _ = call(p, "GET", "/api/v1/trunks/carrier")
    assert status == 200 and body["state"] == "peer" and body["calls"] == 0, body
    # Every setting is checked; the error names the field.
    for bad, field, words in [
        ({"keepalive": 1}, "body", "keepalive is 0 (none) or 2-3600"),
        ({"codecs": ["g729"]}, "codecs", "not a codec"),
        ({"patterns": ["1585"]}, "patterns", "not a number pattern"),
        ({"number_format": "e.164"}, "number_format", "e164, digits or national"),
        ({"caller_id": "x"}, "caller_id", "from, pai or rpid"),
        ({"host": "evil.example>;lr"}, "body", "not a host name"),
        ({"peers": ["nope"]}, "peers", "not an IP address"),
        ({"max_calls": 1000000}, "body", "max calls"),
        ({"name": "other"}, "name", "cannot be renamed"),
        ({"pasword": "typo"}, "body", "unknown field"),
    ]:
        status, body, _ = call(p, "PATCH", "/api/v1/trunks/carrier", bad)
        # (A body that is no TrunkInput at all is axum's 422.)
        want = 422 if "unknown" in words else 400
        assert status == want and body["field"] == field and words in body["message"], (bad, body)
    status, body, _ = call(p, "PATCH", "/api/v1/trunks/carrier",
                           {"number_format": "national", "max_calls": 2, "patterns": ["+1585", "+44"],
                            "password": "another-one"})
    assert status == 200 and (body["number_format"], body["max_calls"], body["patterns"]) == (
        "national", 2, ["+1585", "+44"]), body
    status, body, _ = call(p, "PATCH", "/api/v1/trunks/nobody", {"port": 5080})
    assert status == 404
    # Numbers.
    status, body, _ = call(p, "PUT", "/api/v1/dids/+15855550101", {"extension": "101"})
    assert status == 200 and body == {"number": "+15855550101", "extension": "101"}, body
    for bad in [{"extension": "999"}, {}, {"extension": "101", "mailbox": "101"}]:
        status, body, _ = call(p, "PUT", "/api/v1/dids/+15855550102", bad)
        assert status == 400, (bad, body)
    status, body, _ = call(p, "PUT", "/api/v1/dids/5855550102", {"mailbox": "101"})
    assert status == 400 and "E.164" in body["message"], body
    status, body, _ = call(p, "GET", "/api/v1/dids")
    assert body == [{"number": "+15855550101", "extension": "101"}], body
    assert call(p, "DELETE", "/api/v1/dids/+15855550101")[0] == 204
    assert call(p, "DELETE", "/api/v1/dids/+15855550101")[0] == 404
    # Each user's outside calls and own number, set by an administrator.
    status, body, _ = call(p, "PATCH", "/api/v1/users/101", {"dial_class": "local", "outside_number": "+15855550142"})
    assert status == 200 and (body["dial_class"], body["outside_number"]) == ("local", "+15855550142"), body
    status, body, _ = call(p, "GET", "/api/v1/users/101", auth=("101", "secret101"))
    assert body["dial_class"] == "local", body
    status, body, _ = call(p, "PATCH", "/api/v1/users/101", {"dial_class": "everywhere"})
    assert status == 400 and body["field"] == "dial_class", body
    status, body, _ = call(p, "PATCH", "/api/v1/users/101", {"outside_number": "5855550142"})
    assert status == 400 and body["field"] == "outside_number", body
    status, body, _ = call(p, "PATCH", "/api/v1/users/101", {"dial_class": "international"}, auth=("101", "secret101"))
    assert status == 403, "users cannot raise their own dialling class"
    status, body, _ = call(p, "PATCH", "/api/v1/users/101", {"outside_number": ""})
    assert status == 200 and body["outside_number"] is None and body["dial_class"] == "local", body
    # Removed: gone from the store and from the running server.
    assert call(p, "DELETE", "/api/v1/trunks/carrier")[0] == 204
    assert call(p, "GET", "/api/v1/trunks/carrier")[0] == 404
    wait_for(lambda: "carrier" not in trunks(p), secs=5, what="the trunk gone from the server")
    # Audited, never with the password.
    audit = p.cli("audit").stdout
    for action in ("trunk.add", "trunk.set", "trunk.remove", "did.set", "did.remove"):
        assert action in audit, action
    assert "password changed" in audit
    everything = audit + p.log.read_text() + p.cli("trunk", "list").stdout
    assert SECRET not in everything and "another-one" not in everything


def test_the_trunks_page_adds_and_changes_a_trunk_shows_its_state_and_maps_a_number(parley_factory, browser):
    p = admin_parley(parley_factory)
    base = f"http://127.0.0.1:{p.http_port}"
    user = browser.new_page(viewport=SIZES["desktop"])
    login(user, base, "101", "secret101")
    assert user.goto(base + "/admin/trunks").status == 403
    assert user.get_by_role("link", name="Trunks").count() == 0

    page = browser.new_page(viewport=SIZES["desktop"])
    page.on("dialog", lambda d: d.accept())
    login(page, base, "100", "adminpw100")
    page.get_by_role("link", name="Trunks").click()
    expect(page.locator("#trunks .empty")).to_contain_text("No trunks yet")
    add = page.locator("#add-trunk")
    add.get_by_label("Name", exact=True).fill("carrier")
    add.get_by_label("Carrier host").fill(CARRIER_IP)
    add.get_by_label("Port", exact=True).fill(str(p.sip_port + 10))
    add.get_by_label("Username (the account at the carrier)").fill("4930123456")
    add.get_by_label("Password", exact=True).fill(SECRET)
    add.get_by_label("OPTIONS keep-alive").fill("0")
    add.get_by_label("Number format").select_option("digits")
    add.get_by_label("G.711 A-law (PCMA)").check()
    add.get_by_role("button", name="Add trunk").click()
    expect(page.get_by_role("status")).to_have_text("Added trunk carrier (peer).")
    # The running server took it: the state column says so (an IP peer is up at once).
    def state():
        page.reload()
        return page.locator("#trunk-carrier .state").inner_text()
    wait_for(lambda: state() == "peer", secs=5, what="the trunk's live state")
    assert page.locator("#trunk-carrier td").nth(4).inner_text() == "0"
    # The password is never in the page: the form says one is set.
    assert SECRET not in page.content()
    page.locator("#edit-carrier summary").click()
    edit = page.locator("#edit-carrier form")
    expect(edit.get_by_label("New password (a password is set; leave empty to keep it)")).to_have_value("")
    expect(edit.get_by_label("Number format")).to_have_value("digits")
    expect(edit.get_by_label("G.711 A-law (PCMA)")).to_be_checked()
    # A bad setting is refused with the reason, nothing changes.
    edit.get_by_label("Numbers it carries").fill("1585")
    edit.get_by_role("button", name="Save carrier").click()
    expect(page.get_by_role("alert")).to_contain_text("carrier not changed")
    expect(page.get_by_role("alert")).to_contain_text("not a number pattern")
    page.locator("#edit-carrier summary").click()
    edit = page.locator("#edit-carrier form")
    edit.get_by_label("Numbers it carries").fill("+1585, +44")
    edit.get_by_label("Caller ID header").select_option("rpid")
    edit.get_by_role("button", name="Save carrier").click()
    expect(page.get_by_role("status")).to_have_text("Saved carrier.")
    status, body, _ = call(p, "GET", "/api/v1/trunks/carrier")
    assert (body["patterns"], body["caller_id"], body["number_format"], body["password_set"]) == (
        ["+1585", "+44"], "rpid", "digits", True), body
    # A user's outside calls, on the admin page.
    page.goto(base + "/admin")
    page.locator("#user-101 summary").click()
    form = page.locator("#user-101 form")
    expect(form.get_by_label("Outside calls")).to_have_value("internal")
    form.get_by_label("Outside calls").select_option("national")
    form.get_by_label("Own outside number").fill("+15855550142")
    form.get_by_role("button", name="Save 101").click()
    expect(page.get_by_role("status")).to_have_text("Saved 101.")
    status, body, _ = call(p, "GET", "/api/v1/users/101")
    assert (body["dial_class"], body["outside_number"]) == ("national", "+15855550142"), body
    page.goto(base + "/admin/trunks")
    # A number for an extension.
    dids = page.locator("#add-did")
    dids.get_by_label("Number (E.164)").fill("+15855550101")
    dids.get_by_label("Extension or mailbox").fill("101")
    dids.get_by_role("button", name="Save number").click()
    expect(page.get_by_role("status")).to_have_text("Calls to +15855550101 ring extension 101.")
    expect(page.locator("tr.did")).to_have_count(1)
    shot(page, "trunks", "desktop")
    small = browser.new_page(viewport=SIZES["phone"])
    login(small, base, "100", "adminpw100")
    small.goto(base + "/admin/trunks")
    small.locator("#edit-carrier summary").click()
    assert_fits(small)
    shot(small, "trunks", "phone")
    page.get_by_role("button", name="Remove +15855550101").click()
    expect(page.get_by_role("status")).to_have_text("Removed +15855550101.")
    page.locator("#edit-carrier summary").click()
    page.locator("#edit-carrier").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text("Removed trunk carrier.")
    assert SECRET not in p.log.read_text() + p.cli("audit").stdout
