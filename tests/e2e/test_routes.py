"""Where a call goes (issue 17): call routes per presence, set through the JSON API by the user (with the
routes privilege) and the presence from the portal's My Presence page in a real Chromium. SIPp plays
the phones: two destinations ring at once and the first to answer wins, the next connection attempt
rings when the first rang out, the Finally route takes a message, and a presence change moves the next
call."""
import re
import socket
import struct
import threading
import time

import pytest

from playwright.sync_api import expect

from test_json_api import call as api
from test_notify import peers  # noqa: F401 (fixture)
from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)
from test_voicemail import deposit
from vmhelp import messages, wait_for


def start(parley_factory, sipp, **config):
    p = parley_factory(**config)
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    # 101 may define its own routes (the administrator grants it, as the seed says).
    p.cli("user", "set", "101", "--privilege", "routes")
    p.start()
    for ext, port in (("101", 4), ("102", 20)):
        sipp(p, "register.xml", port=p.sip_port + port, user=ext, password=f"secret{ext}", service=ext,
             keys={"expires": 300}).assert_ok()
    return p


def set_route(p, presence, route, user="101"):
    status, body, _ = api(p, "PUT", f"/api/v1/users/{user}/routes/{presence}", route, auth=(user, f"secret{user}"))
    assert status == 200, body
    return body


def test_two_phones_ring_at_once_the_next_attempt_after_the_first_and_finally_a_message(
        parley_factory, sipp, tmp_path):
    p = start(parley_factory, sipp)
    # Without the routes privilege a user cannot change routes; with it, only its own.
    status, body, _ = api(p, "PUT", "/api/v1/users/102/routes/in-office",
                          {"attempts": [{"destinations": ["handsets"]}]}, auth=("102", "secret102"))
    assert status == 403, body
    status, body, _ = api(p, "PUT", "/api/v1/users/102/routes/in-office",
                          {"attempts": [{"destinations": ["handsets"]}]}, auth=("101", "secret101"))
    assert status == 403, body
    for bad, words in [({"attempts": [{"destinations": ["999"]}]}, "extension 999 does not exist"),
                       ({"attempts": [{"destinations": ["handsets"], "ring_secs": 1}]}, "rings 5-300 seconds"),
                       ({"attempts": [{"destinations": []}]}, "1 to 8 destinations")]:
        status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office", bad, auth=("101", "secret101"))
        assert status == 400 and words in body["message"], (bad, body)
    # In Office: 101's phone and 102's at once for 20 s, then voicemail.
    body = set_route(p, "in-office", {"attempts": [{"destinations": ["handsets", "102"], "ring_secs": 20}]})
    assert body["routes"]["in-office"] == {"attempts": [{"destinations": ["handsets", "102"], "ring_secs": 20}],
                                           "finally": "voicemail"}, body
    assert body["custom"] == ["in-office"]
    # 102 answers: the call is up within a second or two (both rang at once), 101's phone is cancelled.
    ringing = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    t0 = time.time()
    caller = sipp(p, "uac_call.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
                  subst={"caller": "100", "hold": 1000})
    wait_for(lambda: p.status()["calls"] and p.status()["calls"][0]["state"] == "answered", secs=5,
             what="the call answered")
    assert time.time() - t0 < 5
    caller.assert_ok()
    answering.assert_ok()
    ringing.assert_ok(timeout=10)
    # Two attempts: 101's phone for 3 s, then 102's, which answers after the first rang out.
    set_route(p, "in-office", {"attempts": [{"destinations": ["handsets"], "ring_secs": 5},
                                            {"destinations": ["102"], "ring_secs": 20}]})
    ringing = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    t0 = time.time()
    caller = sipp(p, "uac_call.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
                  subst={"caller": "100", "hold": 1000})
    ringing.assert_ok(timeout=10)
    assert 4 <= time.time() - t0 < 8, "101's phone rang its 5 s"
    answering.assert_ok(timeout=10)
    caller.assert_ok()
    # Nobody answers either attempt: Finally, the caller leaves a message in 101's mailbox.
    set_route(p, "in-office", {"attempts": [{"destinations": ["handsets"], "ring_secs": 5},
                                            {"destinations": ["102"], "ring_secs": 5}]})
    first = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    second = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    deposit(p, sipp, tmp_path, to="101", hold=20000, port=10).assert_ok(timeout=40)
    first.assert_ok()
    second.assert_ok()
    left = wait_for(lambda: messages(p, "101"), what="the message")
    assert left[0]["caller"] == "100", left
    # Back to the default route (the handsets, then voicemail); audited.
    status, _, _ = api(p, "DELETE", "/api/v1/users/101/routes/in-office", auth=("101", "secret101"))
    assert status == 204
    status, body, _ = api(p, "GET", "/api/v1/users/101/routes", auth=("101", "secret101"))
    assert body["custom"] == [] and body["routes"]["in-office"] == {
        "attempts": [{"destinations": ["handsets"]}], "finally": "voicemail"}, body
    assert p.cli("audit").stdout.count("route.set") == 4


def test_a_presence_chosen_in_the_portal_moves_the_next_call_and_shows_in_the_directory(
        parley_factory, sipp, browser):
    p = start(parley_factory, sipp)
    # Away: 102's phone, then 101's voicemail.
    set_route(p, "away", {"attempts": [{"destinations": ["102"], "ring_secs": 20}]})
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "101", "secret101")
    page.get_by_role("link", name="My Presence").click()
    expect(page.get_by_label("In Office")).to_be_checked()
    expect(page.locator("#presence .route").nth(5)).to_have_text("Rings extension 102 for 20 s, then voicemail.")
    page.get_by_label("Away").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Your presence is Away.")
    expect(page.get_by_label("Away")).to_be_checked()
    shot(page, "presence", "desktop")
    # Others see it in the Directory, and over the API.
    other = browser.new_page(viewport=SIZES["phone"])
    login(other, base, "102", "secret102")
    other.goto(base + "/directory")
    expect(other.locator("#u-101 .presence")).to_have_text("Away")
    expect(other.locator("#u-100 .presence")).to_have_text("In Office")
    assert_fits(other)
    status, body, _ = api(p, "GET", "/api/v1/users/101/presence", auth=("102", "secret102"))
    assert status == 200 and body == {"presence": "away", "label": "Away"}, body
    status, body, _ = api(p, "PUT", "/api/v1/users/101/presence", {"presence": "busy"}, auth=("102", "secret102"))
    assert status == 403, "only the user (or an administrator) changes a presence"
    # The next call rings 102, not 101.
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    caller = sipp(p, "uac_call.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
                  subst={"caller": "100", "hold": 1000})
    caller.assert_ok()
    answering.assert_ok()
    calls = [l for l in p.log.read_text().splitlines() if "udp send" in l and "INVITE sip:101@" in l]
    assert not calls, "101's phone was not rung"
    assert "presence.set" in p.cli("audit").stdout
    # The call records say how the call went, for 101 whose route sent it and for 102 who took it.
    for who in ("101", "102"):
        status, body, _ = api(p, "GET", "/api/v1/me/calls", auth=(who, f"secret{who}"))
        [c] = [c for c in body["items"] if c["caller"] == "100"]
        assert (c["callee"], c["routed_by"], c["answered_by"], c["outcome"]) == ("101", "101", "102", "answered"), c
    page.goto(base + "/calls")
    expect(page.locator("tr.call .routed").first).to_have_text("by 101's route, answered by 102")


def test_a_caller_id_route_takes_a_carriers_callers_and_the_on_busy_route_a_busy_users_calls(
        parley_factory, sipp):
    from test_trunks import CARRIER_IP
    p = start(parley_factory, sipp)
    trunk_port = p.sip_port + 50
    http = f"127.0.0.1:{p.http_port}"
    # The number first: the reload the trunk's addition asks for then reads both.
    p.cli("did", "set", "+15855550101", "--extension", "101", "--http", http)
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(trunk_port), "--http", http)
    wait_for(lambda: "carrier" in p.cli("trunk", "status", "--http", http).stdout, what="the trunk read")
    sipp(p, "register.xml", port=p.sip_port + 30, user="100", password="secret100", service="100",
         keys={"expires": 300}).assert_ok()
    # Callers from the 585 area go to 102; 102's phones call 101 as usual.
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/callers",
                          [{"external": "585*", "attempts": [{"destinations": ["102"], "ring_secs": 20}]},
                           {"internal": "999", "attempts": [{"destinations": ["handsets"]}]}],
                          auth=("101", "secret101"))
    assert status == 400 and "999" in body["message"], body
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/callers",
                          [{"external": "585*", "internal": "100", "attempts": []}], auth=("101", "secret101"))
    assert status == 400 and body["field"] == "caller", body
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/callers",
                          [{"external": "585*", "attempts": [{"destinations": ["102"], "ring_secs": 20}]}],
                          auth=("101", "secret101"))
    assert status == 200 and body["callers"]["in-office"][0]["external"] == "585*", body
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    sipp(p, "carrier_uac.xml", port=trunk_port, service="+15855550101", ip=CARRIER_IP,
         subst={"caller": "5854213850", "rtp": p.sip_port + 17, "hold": 1000}).assert_ok(timeout=15)
    answering.assert_ok()
    invites_to = lambda ext: [l for l in p.log.read_text().splitlines()
                              if "udp send" in l and f"INVITE sip:{ext}@" in l]
    assert invites_to("102") and not invites_to("101"), "a 585 caller rang 102 only"
    # A caller from London: 101's own phone.
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 4)
    time.sleep(0.3)
    sipp(p, "carrier_uac.xml", port=trunk_port, service="+15855550101", ip=CARRIER_IP,
         subst={"caller": "+442079460123", "rtp": p.sip_port + 17, "hold": 1000}).assert_ok(timeout=15)
    answering.assert_ok()
    assert len(invites_to("101")) == 1
    # That London number exactly, and the internal caller 102: both to 100's phone.
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/callers",
                          [{"external": "442079460123", "attempts": [{"destinations": ["100"], "ring_secs": 20}]},
                           {"internal": "102", "attempts": [{"destinations": ["100"], "ring_secs": 20}]}],
                          auth=("101", "secret101"))
    assert status == 200, body
    for caller in ("+442079460123", "102"):
        stand_in = sipp(p, "uas_answer.xml", port=p.sip_port + 30)
        time.sleep(0.3)
        if caller == "102":
            sipp(p, "uac_call.xml", port=p.sip_port + 40, user="102", password="secret102", service="101",
                 subst={"caller": "102", "hold": 1000}).assert_ok()
        else:
            sipp(p, "carrier_uac.xml", port=trunk_port, service="+15855550101", ip=CARRIER_IP,
                 subst={"caller": caller, "rtp": p.sip_port + 17, "hold": 1000}).assert_ok(timeout=15)
        stand_in.assert_ok()
    assert len(invites_to("100")) == 2 and len(invites_to("101")) == 1, "both to 100, 101's phone not rung"
    status, _, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/callers", [], auth=("101", "secret101"))
    assert status == 200
    # On-Busy: while 101 is on a call, its calls ring 100 instead.
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office/on-busy",
                          {"attempts": [{"destinations": ["100"], "ring_secs": 20}]}, auth=("101", "secret101"))
    assert status == 200 and "in-office" in body["on_busy"], body
    busy = sipp(p, "uas_answer.xml", port=p.sip_port + 4)
    time.sleep(0.3)
    first = sipp(p, "uac_call.xml", port=p.sip_port + 10, user="102", password="secret102", service="101",
                 subst={"caller": "102", "hold": 6000})
    wait_for(lambda: any(c["state"] == "answered" for c in p.status()["calls"]), secs=5, what="101 on a call")
    stand_in = sipp(p, "uas_answer.xml", port=p.sip_port + 30)
    time.sleep(0.3)
    sipp(p, "uac_call.xml", port=p.sip_port + 40, user="102", password="secret102", service="101",
         subst={"caller": "102", "hold": 1000}).assert_ok()
    stand_in.assert_ok()
    first.assert_ok()
    busy.assert_ok()
    assert len(invites_to("101")) == 2, "101's phone rang for its own call only"
    assert len(invites_to("100")) == 3


def test_my_extension_edits_routes_copies_them_to_other_presences_and_needs_the_permission(
        parley_factory, sipp, browser):
    p = start(parley_factory, sipp)
    base = f"http://127.0.0.1:{p.http_port}"
    # Without the routes privilege: the routes are shown, not editable.
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "102", "secret102")
    page.get_by_role("link", name="My Extension").click()
    expect(page.locator("#editor .notice")).to_contain_text("has not given you permission")
    assert page.get_by_role("button", name="Update Call Route").count() == 0
    expect(page.locator("#route-in-office .route")).to_have_text("Rings your phones for 30 s, then voicemail.")
    # With it.
    page = browser.new_page(viewport=SIZES["desktop"])
    page.on("dialog", lambda d: d.accept())
    login(page, base, "101", "secret101")
    page.goto(base + "/extension")
    form = page.locator("#route")
    form.get_by_label("Connection attempt 1: rings").fill("handsets, 999")
    form.get_by_role("button", name="Update Call Route").click()
    expect(page.get_by_role("alert")).to_contain_text("extension 999 does not exist")
    form = page.locator("#route")
    form.get_by_label("Connection attempt 1: rings").fill("handsets, 102")
    form.locator("#route-ring-0").fill("10")
    form.get_by_label("Connection attempt 2: rings").fill("100, +1 585 555 0199")
    form.get_by_label("Finally").select_option("extension")
    form.get_by_label("Extension, or a number outside as +1 585 555 0123").fill("102")
    form.get_by_label("Away").check()
    form.get_by_role("button", name="Update Call Route").click()
    expect(page.get_by_role("status")).to_have_text("Call route of In Office updated, and of Away.")
    expect(page.locator("#route-in-office .route")).to_have_text(
        "Rings your phones and extension 102 for 10 s, rings extension 100 and +15855550199 (press 1 to accept) "
        "for 30 s, then goes to extension 102.")
    expect(page.locator("#route-away .route")).to_have_text(page.locator("#route-in-office .route").inner_text())
    # On-Busy.
    busy = page.locator("#on-busy")
    busy.get_by_label("Use the call route below").check()
    busy.get_by_label("Connection attempt 1: rings").fill("100")
    busy.get_by_role("button", name="Update On-Busy Route").click()
    expect(page.get_by_role("status")).to_have_text("On-Busy route updated.")
    # A Caller-ID route, then removed.
    add = page.locator("#add-caller")
    add.get_by_label("Number (* for any digits) or extension").fill("585*")
    add.get_by_label("Connection attempt 1: rings").fill("102")
    add.get_by_role("button", name="Add Call Route").click()
    expect(page.get_by_role("status")).to_have_text("Caller-ID route added.")
    expect(page.locator("tr.caller")).to_have_count(1)
    expect(page.locator("tr.caller td").first).to_have_text("Caller ID 585*")
    shot(page, "my-extension", "desktop")
    status, body, _ = api(p, "GET", "/api/v1/users/101/routes", auth=("101", "secret101"))
    assert body["routes"]["in-office"] == {
        "attempts": [{"destinations": ["handsets", "102"], "ring_secs": 10}, {"destinations": ["100", "+15855550199"]}],
        "finally": "102"}, body
    assert body["routes"]["away"] == body["routes"]["in-office"]
    assert body["on_busy"]["in-office"] == {"attempts": [{"destinations": ["100"]}], "finally": "voicemail"}
    assert body["callers"]["in-office"][0]["external"] == "585*"
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_have_text("Caller-ID route removed.")
    expect(page.locator("tr.caller")).to_have_count(0)
    # The Away route, chosen from the list, back to the default.
    page.locator("#route-away a").click()
    expect(page.locator("#editor-h")).to_have_text("Away")
    page.get_by_role("button", name="Use the default route").click()
    expect(page.get_by_role("status")).to_have_text("Away uses the default route.")
    expect(page.locator("#route-away .route")).to_have_text("Rings your phones for 30 s, then voicemail.")
    small = browser.new_page(viewport=SIZES["phone"])
    login(small, base, "101", "secret101")
    small.goto(base + "/extension")
    assert_fits(small)


def test_callisto_forwarding_unconditional_to_a_number_no_answer_after_5_s_and_busy_to_another_extension(
        parley_factory, sipp, browser, tmp_path):
    p = start(parley_factory, sipp)
    sipp(p, "register.xml", port=p.sip_port + 30, user="100", password="secret100", service="100",
         keys={"expires": 300}).assert_ok()
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "101", "secret101")
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    expect(card.locator("#fwd-unconditional").get_by_label("No Forwarding")).to_be_checked()
    expect(card.locator("#fwd-no_answer").get_by_label("Voicemail", exact=True)).to_be_checked()
    # Unconditional: To Number 102.
    card.locator("#fwd-unconditional").get_by_label("To Number").check()
    card.locator("#unconditional-number").fill("102")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Forwarding saved.")
    expect(page.locator("#unconditional-number")).to_have_value("102")
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    sipp(p, "uac_call.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
         subst={"caller": "100", "hold": 1000}).assert_ok()
    answering.assert_ok()
    invites_to = lambda ext: [l for l in p.log.read_text().splitlines()
                              if "udp send" in l and f"INVITE sip:{ext}@" in l]
    assert invites_to("102") and not invites_to("101"), "every call to 102, 101's phone not rung"
    # No Forwarding unconditionally; No Answer after 5 s to voicemail; Busy to 100.
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    card.locator("#fwd-unconditional").get_by_label("No Forwarding").check()
    card.locator("#fwd-busy").get_by_label("To Number").check()
    card.locator("#busy-number").fill("100")
    card.locator("#fwd-no_answer").get_by_label("Voicemail", exact=True).check()
    card.get_by_label("Forward after [...] Seconds").fill("5")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Forwarding saved.")
    status, body, _ = api(p, "GET", "/api/v1/users/101/forwarding", auth=("101", "secret101"))
    assert body == {"unconditional": "no-forwarding", "busy": "100", "no_answer": "voicemail", "after_secs": 5,
                    "custom": False}, body
    shot(page, "forwarding", "desktop")
    # Nobody answers: after 5 s the caller is in 101's voicemail.
    ringing = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    time.sleep(0.3)
    t0 = time.time()
    deposit(p, sipp, tmp_path, to="101", hold=12000, port=10).assert_ok(timeout=40)
    ringing.assert_ok()
    left = wait_for(lambda: messages(p, "101"), what="the message")
    assert left[0]["caller"] == "100" and time.time() - t0 > 5
    # 101 on a call: the next caller reaches 100 instead.
    busy = sipp(p, "uas_answer.xml", port=p.sip_port + 4)
    time.sleep(0.3)
    first = sipp(p, "uac_call.xml", port=p.sip_port + 10, user="102", password="secret102", service="101",
                 subst={"caller": "102", "hold": 6000})
    wait_for(lambda: any(c["state"] == "answered" for c in p.status()["calls"]), secs=5, what="101 on a call")
    stand_in = sipp(p, "uas_answer.xml", port=p.sip_port + 30)
    time.sleep(0.3)
    sipp(p, "uac_call.xml", port=p.sip_port + 40, user="102", password="secret102", service="101",
         subst={"caller": "102", "hold": 1000}).assert_ok()
    stand_in.assert_ok()
    first.assert_ok()
    busy.assert_ok()
    # A number that is no extension is refused with the reason; nothing changes.
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    card.locator("#fwd-unconditional").get_by_label("To Number").check()
    card.locator("#unconditional-number").fill("999")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("extension 999 does not exist")
    status, body, _ = api(p, "GET", "/api/v1/users/101/forwarding", auth=("101", "secret101"))
    assert body["unconditional"] == "no-forwarding", body


def test_the_presence_code_on_the_phone_sets_the_presence_says_it_tells_webhooks_and_moves_the_next_call(
        parley_factory, peers, sipp, tmp_path):
    from peers import Baresip
    from test_notify import Receiver
    from conftest import next_ports
    from vmhelp import prompt_match, prompt_secs
    import hashlib
    import hmac
    import json
    web = peers(Receiver, next_ports())
    p = parley_factory()
    p.cli("user", "add", "100", "--name", "Admin", "--password", "secret100", "--privilege", "admin")
    for ext in ("101", "102"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    status, hook, _ = api(p, "POST", "/api/v1/webhooks", {"url": web.url + "/hook", "events": ["presence.changed"]},
                          auth=("100", "secret100"))
    assert status == 201 and hook["events"] == ["presence.changed"], hook
    # 101's Away route rings 102.
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/away",
                          {"attempts": [{"destinations": ["102"], "ring_secs": 20}]}, auth=("100", "secret100"))
    assert status == 200, body
    phone = Baresip(tmp_path, "bob", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440)
    try:
        wait_for(lambda: p.status()["registrations"], what="101's registration")
        # *80 then 6: Away. Parley answers, says "Your presence is now Away." and hangs up.
        t0 = time.time()
        phone.send("dial", f"sip:*806@127.0.0.1:{p.sip_port}")
        phone.wait_event("CALL_ESTABLISHED")
        phone.wait_event("CALL_CLOSED", secs=15)
        assert time.time() - t0 < prompt_secs("presence-now", "presence-away") + 4
        heard = phone.recordings("dec")[-1]
        r = prompt_match(heard, "presence-now", "presence-away")
        assert r > 0.97, f"the phone did not hear the whole confirmation (envelope correlation {r:.3f})"
        assert prompt_match(heard, "presence-now", "presence-busy") < 0.95, "another presence's name"
        # A code naming no presence is an unknown number.
        phone.events.clear()
        phone.send("dial", f"sip:*809@127.0.0.1:{p.sip_port}")
        phone.wait_event("CALL_CLOSED", secs=10)
    finally:
        phone.stop()
    status, body, _ = api(p, "GET", "/api/v1/users/101/presence", auth=("102", "secret102"))
    assert body == {"presence": "away", "label": "Away"}, body
    audit = p.cli("audit").stdout
    assert "presence.set" in audit and "away" in audit, audit
    # The webhook, signed, says who changed from what to what.
    [req] = wait_for(lambda: web.to("/hook"), what="the presence.changed webhook")
    event = json.loads(req["body"])
    assert event["event"] == "presence.changed" and req["headers"]["x-parley-event"] == "presence.changed"
    change = event["presence"]
    assert (change["extension"], change["presence"], change["label"], change["previous"]) == \
        ("101", "away", "Away", "in-office"), change
    t, v1 = (kv.split("=", 1)[1] for kv in req["headers"]["x-parley-signature"].split(","))
    mac = hmac.new(hook["secret"].encode(), f"{t}.".encode() + req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, v1)
    # Setting the same presence again is no change: no second webhook.
    status, _, _ = api(p, "PUT", "/api/v1/users/101/presence", {"presence": "away"}, auth=("101", "secret101"))
    assert status == 200
    # The next call to 101 follows Away: 102 rings and answers.
    sipp(p, "register.xml", port=p.sip_port + 20, user="102", password="secret102", service="102",
         keys={"expires": 300}).assert_ok()
    answering = sipp(p, "uas_answer.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    sipp(p, "uac_call.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
         subst={"caller": "100", "hold": 1000}).assert_ok()
    answering.assert_ok()
    time.sleep(1.0)
    assert len(web.to("/hook")) == 1


def test_unconditional_to_a_number_outside_reaches_the_carrier_with_the_central_number_or_else_voicemail(
        parley_factory, sipp, browser, tmp_path):
    from test_trunks import CARRIER_IP
    p = parley_factory(main_number="+15855550100")
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    p.cli("user", "set", "101", "--privilege", "routes")
    p.cli("user", "set", "101", "--dial-class", "national")
    p.start()
    trunk_port = p.sip_port + 50
    http = f"127.0.0.1:{p.http_port}"
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(trunk_port), "--http", http)
    wait_for(lambda: "carrier" in p.cli("trunk", "status", "--http", http).stdout, what="the trunk read")
    # 101 forwards every call to a mobile (Callisto's Unconditional To Number), typed as people do.
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["phone"])
    login(page, base, "101", "secret101")
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    card.locator("#fwd-unconditional").get_by_label("To Number").check()
    card.locator("#unconditional-number").fill("+1 585 555-0199")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Forwarding saved.")
    expect(page.locator("#unconditional-number")).to_have_value("+15855550199")
    assert_fits(page)
    status, body, _ = api(p, "GET", "/api/v1/users/101/routes", auth=("101", "secret101"))
    assert body["routes"]["in-office"] == {"attempts": [], "finally": "+15855550199"}, body
    # A call to 101 goes straight out: the carrier sees the mobile's number and, as the caller, the
    # company's central number (not 100, not 101). The mobile is busy: the caller hears busy.
    carrier = sipp(p, "carrier_check.xml", port=trunk_port, ip=CARRIER_IP, subst={
        "number_re": r"\+15855550199", "from_re": r"[^\r\n]*&lt;sip:\+15855550100@",
        "identity_re": "CSeq: 1 INVITE", "privacy_re": "Call-ID", "status": 486})
    time.sleep(0.3)
    sipp(p, "uac_call_fails.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
         subst={"caller": "100", "status": 486}).assert_ok()
    carrier.assert_ok()
    # 101 may not call outside (dialling class internal): the forward cannot go out, and the
    # caller leaves a message in 101's mailbox instead; nothing reaches the carrier.
    p.cli("user", "set", "101", "--dial-class", "internal")
    deposit(p, sipp, tmp_path, to="101", hold=12000, port=12).assert_ok(timeout=30)
    left = wait_for(lambda: messages(p, "101"), what="the message")
    assert left[0]["caller"] == "100"
    assert "the route cannot forward outside: voicemail" in p.log.read_text()
    # A number that is none is refused with the reason.
    status, body, _ = api(p, "PUT", "/api/v1/users/101/routes/in-office",
                          {"attempts": [], "finally": "+0123"}, auth=("101", "secret101"))
    assert status == 400 and "not an outside number" in body["message"], body


def follow_me_parley(parley_factory, port_offset=50):
    """Parley with a trunk to the carrier's address, 100 and 101 (101 may call out and set routes),
    and 101's route: its mobile +1 585 555 0199 for 30 s, then voicemail."""
    from test_trunks import CARRIER_IP
    p = parley_factory(main_number="+15855550100")
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.cli("user", "set", "101", "--privilege", "routes")
    p.cli("user", "set", "101", "--dial-class", "national")
    p.start()
    trunk_port = p.sip_port + port_offset
    http = f"127.0.0.1:{p.http_port}"
    p.cli("trunk", "add", "carrier", "--host", CARRIER_IP, "--port", str(trunk_port), "--http", http)
    wait_for(lambda: "carrier" in p.cli("trunk", "status", "--http", http).stdout, what="the trunk read")
    body = set_route(p, "in-office", {"attempts": [{"destinations": ["+1 585 555 0199"], "ring_secs": 30}]})
    assert body["routes"]["in-office"]["attempts"] == [{"destinations": ["+15855550199"], "ring_secs": 30}], body
    return p, CARRIER_IP, trunk_port


def caller_reaches_101(p, caller, secs):
    """The baresip caller (100), registered, dials 101 and is answered within `secs`."""
    wait_for(lambda: p.status()["registrations"], what="the caller's registration")
    caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
    caller.wait_event("CALL_ESTABLISHED", secs=secs)


FOLLOW_ME_PROMPT = ("followme-call-from", "digits/1", "digits/0", "digits/0", "followme-press")


@pytest.mark.parametrize("keys", ["rfc4733", "inband"])
def test_follow_me_the_mobile_hears_who_calls_presses_1_and_is_bridged_both_ways(parley_factory, tmp_path, keys):
    from mobile import Mobile
    from peers import Baresip
    from vmhelp import find_tone, prompt_match, prompt_secs, tone_of
    p, carrier_ip, trunk_port = follow_me_parley(parley_factory)
    key_at = prompt_secs(*FOLLOW_ME_PROMPT) + 1.0
    mobile = Mobile(carrier_ip, trunk_port, trunk_port + 2, answer_after=1.0, keys=[(key_at, "1", keys)],
                    tone_hz=1000, events=(keys == "rfc4733"))
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        caller_reaches_101(p, caller, secs=20)
        established = time.time()
        invite = mobile.invites[0]
        assert invite.startswith("INVITE sip:+15855550199@"), invite
        assert re.search(r"(?m)^From: .*<sip:\+15855550100@", invite), "the central number"
        assert mobile.keys_sent_at and established >= mobile.keys_sent_at[0], "bridged only once 1 was pressed"
        caller.drain(3.0)
        caller.send("hangup")
        caller.wait_event("CALL_CLOSED", secs=10)
    finally:
        caller.stop()
    wait_for(lambda: mobile.bye_at, what="the mobile's BYE")
    mobile.close()
    # Before its key the mobile heard the caller's number and the question, nothing of the caller.
    before = mobile.heard(tmp_path / "before.wav", end=mobile.keys_sent_at[0])
    r = prompt_match(before, *FOLLOW_ME_PROMPT)
    assert r > 0.97, f"the mobile did not hear the screening prompt (envelope correlation {r:.3f})"
    assert prompt_match(before, "followme-call", "followme-press") < 0.95, "without the caller's number"
    assert not find_tone(before, 440), "the caller was not heard before the key"
    # After it, both ways: the mobile hears the caller's 440 Hz, the caller the mobile's 1000 Hz.
    after = mobile.heard(tmp_path / "after.wav", start=mobile.keys_sent_at[0] + 1.0)
    (freq, share), level = tone_of(after)
    assert abs(freq - 440) <= 15 and share > 0.5 and level > 500, (freq, share, level)
    assert find_tone(caller.recordings("dec")[-1], 1000), "the caller hears the mobile"
    assert "Follow-Me leg answered: screening it" in p.log.read_text()
    status, body, _ = api(p, "GET", "/api/v1/me/calls", auth=("101", "secret101"))
    [c] = body["items"]
    assert (c["routed_by"], c["answered_by"], c["outcome"]) == ("101", "+15855550199", "answered"), c


def test_follow_me_a_mobile_that_answers_and_presses_nothing_is_dropped_and_the_caller_leaves_a_message(
        parley_factory, sipp, tmp_path):
    from mobile import Mobile
    p, carrier_ip, trunk_port = follow_me_parley(parley_factory)
    # The mobile's own voicemail, say: it answers and never presses a key.
    mobile = Mobile(carrier_ip, trunk_port, trunk_port + 2, answer_after=1.0)

    def stranger():
        # Meanwhile a stranger who learned Parley's port sends "1" as RFC 4733 events: it must not
        # accept the call for the mobile.
        wait_for(lambda: mobile.answered_at, secs=20, what="the mobile's answer")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.9", 0))
        for n in range(100):
            end = n % 8 >= 5
            payload = struct.pack("!BBH", 1, (0x80 if end else 0) | 10, 160 * (n % 8 + 1))
            s.sendto(struct.pack("!BBHII", 0x80, 101, n, 800 * (n // 8), 0xBAD) + payload, mobile.peer_media)
            time.sleep(0.02)
        s.close()

    attacker = threading.Thread(target=stranger, daemon=True)
    attacker.start()
    try:
        t0 = time.time()
        deposit(p, sipp, tmp_path, to="101", hold=12000, port=10).assert_ok(timeout=60)
        left = wait_for(lambda: messages(p, "101"), what="the message")
        assert left[0]["caller"] == "100"
        assert mobile.bye_at and mobile.bye_at - mobile.answered_at >= 19, "dropped after its 20 s"
        assert time.time() - t0 > 21
    finally:
        mobile.close()


def test_callisto_mobile_connect_from_the_forwarding_card_offers_the_call_to_the_mobile(
        parley_factory, browser, tmp_path):
    from mobile import Mobile
    from peers import Baresip
    from vmhelp import prompt_match, prompt_secs
    p, carrier_ip, trunk_port = follow_me_parley(parley_factory)
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["phone"])
    login(page, base, "101", "secret101")
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    card.locator("#fwd-unconditional").get_by_label("Mobile Connect").check()
    card.locator("#unconditional-number").fill("+1 585 555 0199")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Forwarding saved.")
    expect(card.locator("#fwd-unconditional").get_by_label("Mobile Connect")).to_be_checked()
    expect(page.locator("#unconditional-number")).to_have_value("+15855550199")
    assert_fits(page)
    status, body, _ = api(p, "GET", "/api/v1/users/101/forwarding", auth=("101", "secret101"))
    assert body["unconditional"] == "mobile-connect:+15855550199", body
    # Mobile Connect for a number that is no outside number is refused with the reason.
    status, err, _ = api(p, "PUT", "/api/v1/users/101/forwarding",
                         {"unconditional": "mobile-connect:102", "busy": "no-forwarding", "no_answer": "voicemail"},
                         auth=("101", "secret101"))
    assert status == 400 and "not an outside number" in err["message"], err
    # A call to 101: the mobile hears who calls, presses 1, and is bridged.
    key_at = prompt_secs(*FOLLOW_ME_PROMPT) + 0.5
    mobile = Mobile(carrier_ip, trunk_port, trunk_port + 2, answer_after=0.5, keys=[(key_at, "1", "rfc4733")])
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        caller_reaches_101(p, caller, secs=20)
        assert mobile.keys_sent_at and time.time() >= mobile.keys_sent_at[0]
        caller.send("hangup")
        caller.wait_event("CALL_CLOSED", secs=10)
    finally:
        caller.stop()
        mobile.close()
    before = mobile.heard(tmp_path / "before.wav", end=mobile.keys_sent_at[0])
    assert prompt_match(before, *FOLLOW_ME_PROMPT) > 0.97


def test_follow_me_with_the_pin_required_a_wrong_pin_is_refused_and_the_right_one_takes_the_call(
        parley_factory, tmp_path):
    from mobile import Mobile
    from peers import Baresip
    from vmhelp import prompt_match, prompt_secs
    p, carrier_ip, trunk_port = follow_me_parley(parley_factory)
    # The administrator asks for the PIN on 101's Follow-Me calls.
    p.cli("user", "set", "101", "--privilege", "routes,follow-me-pin", "--pin", "2580")
    ask = ("followme-call-from", "digits/1", "digits/0", "digits/0", "followme-pin")
    first = prompt_secs(*ask) + 0.5
    again = first + 1.5 + prompt_secs("vm-incorrect", "followme-pin") + 0.5
    keys = [(first + 0.3 * n, k, "rfc4733") for n, k in enumerate("1999#")]
    keys += [(again + 0.3 * n, k, "rfc4733") for n, k in enumerate("2580#")]
    mobile = Mobile(carrier_ip, trunk_port, trunk_port + 2, answer_after=0.5, keys=keys)
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        caller_reaches_101(p, caller, secs=40)
        established = time.time()
        assert len(mobile.keys_sent_at) == 10 and established >= mobile.keys_sent_at[-1], \
            "answered only after the right PIN, not after 1 nor the wrong PIN"
        caller.send("hangup")
        caller.wait_event("CALL_CLOSED", secs=10)
    finally:
        caller.stop()
        mobile.close()
    asked = mobile.heard(tmp_path / "asked.wav", end=mobile.keys_sent_at[0])
    assert prompt_match(asked, *ask) > 0.97
    refused = mobile.heard(tmp_path / "refused.wav", start=mobile.keys_sent_at[4], end=mobile.keys_sent_at[5])
    r = prompt_match(refused, "vm-incorrect", "followme-pin")
    assert r > 0.97, f"the wrong PIN was not refused aloud ({r:.3f})"
    log = p.log.read_text()
    assert "Follow-Me PIN mailbox=101 ok=false" in log and "Follow-Me PIN mailbox=101 ok=true" in log
    own = "\n".join(l for l in log.splitlines() if "rsipstack" not in l)
    assert "2580" not in own and not re.search(r"key\W+[0-9]", own), "a PIN is never logged, not even key by key"


def test_a_forwarding_loop_between_two_users_ends_in_voicemail_without_ringing_a_phone_twice(
        parley_factory, sipp, tmp_path):
    p = start(parley_factory, sipp)
    p.cli("user", "set", "102", "--privilege", "routes")
    # 101's phone for 5 s, then 102; 102's phone for 5 s, then back to 101.
    set_route(p, "in-office", {"attempts": [{"destinations": ["handsets"], "ring_secs": 5}], "finally": "102"})
    set_route(p, "in-office", {"attempts": [{"destinations": ["handsets"], "ring_secs": 5}], "finally": "101"},
              user="102")
    first = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    second = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 20)
    time.sleep(0.3)
    t0 = time.time()
    deposit(p, sipp, tmp_path, to="101", hold=12000, port=10).assert_ok(timeout=60)
    first.assert_ok()
    second.assert_ok()
    assert time.time() - t0 > 10
    # The loop stopped at 102, whose voicemail took the message; each phone rang once.
    left = wait_for(lambda: messages(p, "102"), what="the message in 102's mailbox")
    assert left[0]["caller"] == "100" and not messages(p, "101")
    sent = [l for l in p.log.read_text().splitlines() if "udp send" in l]
    assert sum("INVITE sip:101@" in l for l in sent) == 1, "101's phone rang once"
    assert sum("INVITE sip:102@" in l for l in sent) == 1, "102's phone rang once"


def test_callisto_voicemail_with_transfer_offers_0_in_the_greeting_and_transfers_the_caller(
        parley_factory, browser, tmp_path):
    from peers import Baresip
    from vmhelp import prompt_match, prompt_secs
    p = parley_factory()
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    p.cli("user", "set", "101", "--privilege", "routes")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "101", "secret101")
    page.goto(base + "/settings")
    card = page.locator("#forwarding")
    card.locator("#fwd-unconditional").get_by_label("Voicemail with Transfer").check()
    card.locator("#unconditional-number").fill("102")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Forwarding saved.")
    expect(card.locator("#fwd-unconditional").get_by_label("Voicemail with Transfer")).to_be_checked()
    status, body, _ = api(p, "GET", "/api/v1/users/101/forwarding", auth=("101", "secret101"))
    assert body["unconditional"] == "voicemail-transfer:102", body
    # A caller reaches 101's voicemail, is told that 0 transfers, presses it and is transferred to 102.
    stand_in = Baresip(tmp_path, "stand-in", p.sip_port + 6, p.sip_port + 9, p.sip_port, "102", "secret102", 1000)
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: len(p.status()["registrations"]) == 2, what="registrations")
        caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        caller.wait_event("CALL_ESTABLISHED")
        # The greeting, then the offer; 0 near the offer's end (before the tone).
        greeting = ("vm-theperson", "digits/1", "digits/0", "digits/1", "vm-isunavail", "vm-intro-transfer")
        caller.drain(prompt_secs(*greeting) - 0.3)
        heard = caller.recordings("dec")[-1]
        caller.send("sndcode", "0")
        stand_in.wait_event("CALL_ESTABLISHED", secs=15)  # the caller's phone, referred, calls 102
        calls = wait_for(lambda: p.status()["calls"], what="the transferred call")
        assert (calls[0]["caller"], calls[0]["callee"]) == ("100", "102")
    finally:
        caller.stop()
        stand_in.stop()
    assert prompt_match(heard, "vm-intro-transfer") > 0.97, "the caller was told 0 transfers"
    assert "transfer accepted by the caller's phone" in p.log.read_text()
    assert not messages(p, "101")
