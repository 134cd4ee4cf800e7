"""Message settings and My Account in a real headless Chromium against the running binary: the PIN
rules refuse bad PINs with a clear message, Save confirms, unsaved changes warn before leaving, MWI On
lights a registered phone's lamp (SIPp receives the NOTIFY); the password and the PIN are changed
separately, and the phone (baresip dialling *97) logs in with the new PIN and not with the old one."""
import time

from playwright.sync_api import expect

from peers import Baresip
from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)
from test_voicemail import wait_for


def test_settings_save_the_pin_rules_mwi_and_the_phone_logs_in_with_the_new_pin(parley_factory, sipp, browser,
                                                                                  tmp_path):
    p = parley_factory()
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "101", "secret101")

    # My Account: contact details, then a wrong current password is refused, then the change works.
    page.goto(base + "/account")
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status")).to_have_text("Details saved.")
    page.get_by_label("Current password").fill("nope")
    page.get_by_label("New password", exact=True).fill("n3w-Secret")
    page.get_by_label("New password again").fill("n3w-Secret")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("Password not changed: the current password is wrong.")
    page.get_by_label("Current password").fill("secret101")
    page.get_by_label("New password", exact=True).fill("n3w-Secret")
    page.get_by_label("New password again").fill("n3w-Secret")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_have_text("Password changed. Use the new one on your phone too.")
    shot(page, "account", "desktop")

    # Message settings: bad PINs are refused by the phone menu's rules; nothing is saved then.
    page.goto(base + "/settings")
    shot(page, "settings", "desktop")
    expect(page.get_by_text("At least 4 digits")).to_be_visible()
    page.get_by_label("New PIN", exact=True).fill("2580")
    page.get_by_label("New PIN again").fill("2581")
    page.get_by_label("Mark messages as read").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text("Not saved: the two PINs differ.")
    assert not page.get_by_label("Mark messages as read").is_checked()
    page.get_by_label("New PIN", exact=True).fill("1234")
    page.get_by_label("New PIN again").fill("1234")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Not saved: that PIN is too easy to guess")
    # A good PIN and the options: Save confirms, the page shows what is stored.
    page.get_by_label("New PIN", exact=True).fill("2580")
    page.get_by_label("New PIN again").fill("2580")
    page.get_by_label("Mark messages as read").check()
    page.get_by_label("Forward to Email Account").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved. Your new PIN works from now on.")
    assert page.get_by_label("Mark messages as read").is_checked()
    assert page.get_by_label("Forward to Email Account").is_checked()
    assert page.get_by_label("Always prompt").is_checked()
    # SMS is not offered to an account without the privilege.
    assert page.get_by_label("Send SMS when receiving a message").count() == 0

    # An unsaved change warns before leaving; staying keeps it.
    dialogs = []

    def on_dialog(d):
        dialogs.append(d.type)
        d.dismiss()
    page.on("dialog", on_dialog)
    page.get_by_label("Mark messages as read").uncheck()
    page.get_by_role("link", name="Directory").click()
    wait_for(lambda: dialogs, secs=5, what="the unsaved-changes warning")
    assert dialogs == ["beforeunload"] and page.url.endswith("/settings")
    page.remove_listener("dialog", on_dialog)
    page.get_by_label("Mark messages as read").check()

    # MWI On: a registered phone (SIPp) receives "Messages-Waiting: yes" at once.
    sipp(p, "register.xml", port=p.sip_port + 4, user="101", password="n3w-Secret", service="101",
         keys={"expires": 300}).assert_ok()
    lamp = sipp(p, "uas_notify.xml", port=p.sip_port + 4, subst={"counts": "0/0"})
    time.sleep(0.3)
    page.get_by_role("button", name="MWI On").click()
    expect(page.get_by_role("status")).to_have_text("Message lamp switched on on 1 phone(s).")
    lamp.assert_ok(timeout=10)

    # My Account: the PIN on its own. Then the phone: the PIN set on Message settings no longer works,
    # the new one does.
    page.goto(base + "/account")
    page.get_by_label("New PIN", exact=True).fill("3691")
    page.get_by_label("New PIN again").fill("3691")
    page.get_by_role("button", name="Change PIN").click()
    expect(page.get_by_role("status")).to_have_text("PIN changed. Use it on the phone from now on.")
    phone = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "n3w-Secret", 440)
    try:
        wait_for(lambda: sum(r["extension"] == "101" for r in p.status()["registrations"]) == 2,
                 what="the phone's registration")
        phone.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        for keys in ("2580#", "3691#"):
            phone.press(keys)
            phone.drain(2.5)
        wait_for(lambda: "ok=true" in "".join(l for l in p.log.read_text().splitlines() if "mailbox login" in l),
                 what="the login with the new PIN")
        phone.send("hangup")
    finally:
        phone.stop()
    logins = [l for l in p.log.read_text().splitlines() if "mailbox login" in l]
    assert "ok=false" in logins[0] and "ok=true" in logins[1], logins

    mobile = browser.new_page(viewport=SIZES["phone"])
    login(mobile, base, "101", "n3w-Secret")
    for path, name in (("/settings", "settings"), ("/account", "account")):
        mobile.goto(base + path)
        shot(mobile, name, "phone")
        assert_fits(mobile)
