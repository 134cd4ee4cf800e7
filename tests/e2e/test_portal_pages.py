"""Directory, My Call Details and Phone Functions in a real headless Chromium against the running binary.
SIPp makes real calls first (answered, cancelled by the caller, busy to voicemail); the B2BUA's call
records then show on the callee's My Call Details page with direction, number, caller ID, duration and
outcome. The directory plays a recorded name; Phone Functions lists this configuration's codes."""
from playwright.sync_api import expect

from test_calls import call, setup_pair
from test_json_api import call as api_call
from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)
from test_voicemail import deposit, wait_for
from vmhelp import messages, pcm_tone


def test_call_details_directory_and_phone_functions(parley_factory, sipp, browser, tmp_path):
    p, _ = setup_pair(parley_factory, sipp, voicemail_pilot="*86")
    p.add_user("102", "secret102", name="Carol Jones")
    # Three calls to 101: answered (about 2 s), cancelled by the caller while ringing, and one from 102
    # while 101 is busy, which goes to voicemail.
    caller, callee = call(p, sipp, "uac_call.xml", "uas_answer.xml", subst={"hold": 2000})
    caller.assert_ok()
    callee.assert_ok()
    caller, callee = call(p, sipp, "uac_cancel.xml", "uas_ring_cancel.xml")
    caller.assert_ok()
    callee.assert_ok()
    busy = sipp(p, "uas_status.xml", port=p.sip_port + 4, subst={"status": 486})
    deposit(p, sipp, tmp_path, caller="102", hold=12000, port=30).assert_ok()
    busy.assert_ok()
    wait_for(lambda: messages(p, "101"), what="the message")
    # A recorded name for the directory.
    greetings = p.data / "voicemail" / "100" / "greetings"
    greetings.mkdir(parents=True)
    pcm_tone(greetings / "name.wav", 500, 1.0)

    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "101", "secret101")
    page.goto(base + "/calls")

    def rows():
        page.reload()
        return [[c.inner_text().strip() for c in r.locator("td").all()] for r in page.locator("tr.call").all()]
    table = wait_for(lambda: len(rows()) == 3 and rows(), what="three call records")
    # Newest first: the voicemail call from 102, the cancelled call, the answered call.
    (vm, cancelled, answered) = table
    assert vm[2:6] == ["Incoming", "Internal", "102", "Carol Jones"] and vm[7] == "Voicemail", vm
    assert cancelled[2:6] == ["Incoming", "Internal", "100", "User 100"] and cancelled[7] == "Cancelled (missed)", \
        cancelled
    assert answered[2:6] == ["Incoming", "Internal", "100", "User 100"] and answered[7] == "Answered", answered
    assert answered[6] in ("0:02", "0:03"), answered
    assert vm[6] >= "0:08", vm  # the caller stayed 12 s in voicemail: greeting and message
    shot(page, "calls", "desktop")
    # The caller's side of the same calls, plus a call to a number that does not exist.
    caller, _ = call(p, sipp, "uac_call_fails.xml", None, subst={"status": 404}, to="199")
    caller.assert_ok()
    other = browser.new_page(viewport=SIZES["desktop"])
    login(other, base, "100", "secret100")

    def outgoing():
        other.goto(base + "/calls")
        return [[c.inner_text() for c in r.locator("td").all()][2:] for r in other.locator("tr.call").all()]
    out = wait_for(lambda: len(outgoing()) == 3 and outgoing(), what="100's three calls")
    assert [(r[0], r[2], r[5]) for r in out] == [("Outgoing", "199", "Failed"), ("Outgoing", "101", "Cancelled"),
                                                 ("Outgoing", "101", "Answered")], out
    # The same records over the JSON API.
    status, body, _ = api_call(p, "GET", "/api/v1/me/calls", auth=("101", "secret101"))
    assert status == 200 and body["total"] == 3
    assert [(c["direction"], c["number"], c["outcome"], c["outside"]) for c in body["items"]] == [
        ("incoming", "102", "voicemail", False), ("incoming", "100", "cancelled", False),
        ("incoming", "100", "answered", False)]
    assert body["items"][2]["talk_ms"] >= 1500

    # Directory: everyone, sorted by name, with a play button where a name is recorded.
    page.goto(base + "/directory")
    names = page.locator("table.directory tbody tr td:first-child").all_inner_texts()
    assert names == ["Carol Jones", "User 100", "User 101"], names
    audio = page.locator("#u-100 audio")
    audio.evaluate("a => a.play()")
    page.wait_for_function("a => a.currentTime > 0.3", arg=audio.element_handle(), timeout=10000)
    assert page.locator("#u-102 audio").count() == 0
    shot(page, "directory", "desktop")

    # Phone Functions: this configuration's codes and the menu profile's keys.
    page.goto(base + "/phone")
    expect(page.get_by_role("cell", name="*97", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="*98", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="*86", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="*80 and a digit", exact=True)).to_be_visible()
    expect(page.get_by_text("*806 Away")).to_be_visible()
    expect(page.get_by_text("Record your Announcement A greeting")).to_be_visible()
    shot(page, "phone-functions", "desktop")

    phone = browser.new_page(viewport=SIZES["phone"])
    login(phone, base, "101", "secret101")
    for path, name in (("/calls", "calls"), ("/directory", "directory"), ("/phone", "phone-functions")):
        phone.goto(base + path)
        shot(phone, name, "phone")
        assert_fits(phone)
