"""The administrator's area in a real headless Chromium against the running binary: add a user with a
privilege (who then logs in and is offered SMS), change another's privileges, open their pages, lift a
portal login lockout caused by real wrong passwords, and read the audit log. Non-administrators are
refused."""
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import expect

from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)


def wrong_login(p, ext):
    data = urllib.parse.urlencode({"extension": ext, "password": "wrong"}).encode()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{p.http_port}/login", data=data, timeout=5)
    except urllib.error.HTTPError as e:
        return e.code
    return 200


def test_admin_users_privileges_lockouts_and_audit(parley_factory, browser):
    p = parley_factory(auth_max_failures=3)
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.cli("user", "set", "100", "--privilege", "admin")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    admin = browser.new_page(viewport=SIZES["desktop"])
    admin.on("dialog", lambda d: d.accept())
    login(admin, base, "100", "secret100")

    # A non-administrator is refused.
    user = browser.new_page(viewport=SIZES["desktop"])
    login(user, base, "101", "secret101")
    assert user.goto(base + "/admin").status == 403
    assert user.get_by_role("link", name="Admin").count() == 0

    # Add a user with the sms privilege; they log in and are offered SMS notification.
    admin.goto(base + "/admin")
    admin.get_by_label("Extension", exact=True).fill("105")
    admin.locator("#new-name").fill("Dave Smith")
    admin.locator("#new-password").fill("pass105x")
    admin.locator("#new-sms").check()
    admin.get_by_role("button", name="Add user").click()
    expect(admin.get_by_role("status")).to_have_text("Added Dave Smith on extension 105.")
    expect(admin.locator("#user-105 .badge")).to_have_text("sms")
    dave = browser.new_page(viewport=SIZES["desktop"])
    login(dave, base, "105", "pass105x")
    dave.goto(base + "/settings")
    expect(dave.get_by_label("Send SMS when receiving a message")).to_be_disabled()  # no mobile number yet
    # A duplicate is refused with a message.
    admin.get_by_label("Extension", exact=True).fill("105")
    admin.locator("#new-name").fill("Someone")
    admin.locator("#new-password").fill("pass105y")
    admin.get_by_role("button", name="Add user").click()
    expect(admin.get_by_role("alert")).to_contain_text("Not added")

    # Give 101 the rest privilege.
    row = admin.locator("#user-101")
    row.locator("summary").click()
    row.locator("#p-101-rest").check()
    row.get_by_role("button", name="Save 101").click()
    expect(admin.get_by_role("status")).to_have_text("Saved 101.")
    expect(admin.locator("#user-101 .badge")).to_have_text("rest")
    assert "rest" in p.cli("user", "list").stdout
    # Open 101's greetings from the admin area.
    admin.locator("#user-101").get_by_role("link", name="Greetings").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Greetings and announcements of User 101 (101)")

    # Three wrong passwords lock 101 and this address out of portal logins; the admin lifts both.
    assert [wrong_login(p, "101") for _ in range(3)] == [401, 401, 401]
    assert wrong_login(p, "101") == 429
    admin.goto(base + "/admin")
    locks = admin.locator("tr.lockout").all_inner_texts()
    assert any("account 101" in t for t in locks) and any("address 127.0.0.1" in t for t in locks), locks
    shot(admin, "admin", "desktop")
    admin.get_by_role("button", name="Unlock 101").click()
    expect(admin.get_by_role("status")).to_have_text("Unlocked 101.")
    admin.get_by_role("button", name="Unlock 127.0.0.1").click()
    expect(admin.get_by_role("status")).to_have_text("Unlocked 127.0.0.1.")
    expect(admin.get_by_text("Nothing is locked.")).to_be_visible()
    again = browser.new_page()
    login(again, base, "101", "secret101")

    # The audit log names who did what.
    log = admin.locator("table.audit tbody tr").all_inner_texts()
    assert any("user.add" in t and "105" in t and "100" in t for t in log), log
    assert any("lockout.lift" in t for t in log), log

    phone = browser.new_page(viewport=SIZES["phone"])
    login(phone, base, "100", "secret100")
    phone.goto(base + "/admin")
    shot(phone, "admin", "phone")
    assert_fits(phone)
