"""The web portal in a real headless Chromium (Playwright driving the Debian chromium) against the
running binary: log in, play a voicemail a SIPp caller just left, move and delete it while a SIPp MWI
subscriber receives the new counts. Screenshots of every page at desktop and phone widths are written
to target/screenshots (override with PARLEY_SCREENSHOTS) for a reviewer to look at."""
import os
import pathlib

import pytest

from conftest import ROOT
from test_voicemail import deposit, wait_for
from vmhelp import messages

SHOTS = pathlib.Path(os.environ.get("PARLEY_SCREENSHOTS", ROOT / "target" / "screenshots"))
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
                 # Keep the browser on loopback: no proxy for anything else, no background traffic.
                 "--proxy-server=http://127.0.0.1:9", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-pings", "--disable-domain-reliability"]


@pytest.fixture
def browser(tmp_path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)


def assert_fits(page, width=SIZES["phone"]["width"]):
    """The page does not scroll sideways; on failure, names the elements that stick out."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        wide = page.evaluate("""w => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w)
            .slice(0, 8).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' '
                               + Math.round(e.getBoundingClientRect().right))""", width)
        raise AssertionError(f"{page.url} scrolls sideways on a phone ({scroll}px): {wide}")


def login(page, base, ext, password):
    page.goto(base + "/messages")
    assert "/login" in page.url
    page.get_by_label("Extension").fill(ext)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/messages**")


@pytest.mark.postgres
def test_log_in_play_move_and_delete_a_voicemail_while_the_lamp_follows(parley_factory, sipp, browser, tmp_path):
    p = parley_factory()
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    # 101's phone follows its message summary: empty, one new, moved to Work (old), deleted.
    sub = sipp(p, "mwi_subscribe.xml", port=p.sip_port + 16, user="101", password="secret101", service="101",
               subst={"c1": "0/0", "c2": "1/0", "c3": "0/1", "c4": "0/0"})
    wait_for(lambda: p.status()["mwi_subscriptions"] == 1, what="the subscription")
    deposit(p, sipp, tmp_path, hold=12000).assert_ok()
    [m] = wait_for(lambda: messages(p, "101"), what="the message")

    page = browser.new_page(viewport=SIZES["desktop"])
    page.on("dialog", lambda d: d.accept())
    # A wrong password is refused with a clear message.
    page.goto(base + "/login")
    shot(page, "login", "desktop")
    page.get_by_label("Extension").fill("101")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong extension or password."
    login(page, base, "101", "secret101")

    item = page.locator(f"#m{m['id']}")
    assert "User 100" in item.locator(".caller").inner_text()
    secs = (m["duration_ms"] + 500) // 1000
    assert item.locator(".length").inner_text() == f"0:{secs:02d}"
    assert page.locator("nav.folders a[aria-current=page]").inner_text().split() == ["New", "1"]
    shot(page, "messages", "desktop")
    # The audio element loads the message and plays it.
    audio = item.locator("audio")
    audio.evaluate("a => a.play()")
    page.wait_for_function("a => a.currentTime > 0.5", arg=audio.element_handle(), timeout=10000)
    duration = audio.evaluate("a => a.duration")
    assert abs(duration - m["duration_ms"] / 1000) < 0.2, duration
    assert audio.evaluate("a => a.error") is None

    # Forward it to 100 with a note: 100 gets a new copy that says who sent it and why.
    item.locator(f"select[name=fwd_{m['id']}]").select_option("100")
    item.get_by_label("Note for the recipient").fill("Please call her back")
    item.get_by_role("button", name="Forward").click()
    assert page.get_by_role("status").inner_text() == "Forwarded the message to User 100 (100)."
    [copy] = wait_for(lambda: messages(p, "100"), what="the forwarded copy")
    assert (copy["forwarded_by"], copy["note"], copy["folder"]) == ("101", "Please call her back", "new")
    item = page.locator(f"#m{m['id']}")

    # Move it to Work: the phone hears 0 new / 1 old.
    item.locator(f"select[name=to_{m['id']}]").select_option("work")
    item.get_by_role("button", name="Move").click()
    assert page.get_by_role("status").inner_text() == "Moved 1 message to Work."
    wait_for(lambda: messages(p, "101")[0]["folder"] == "work", what="the move")
    # The link of a notification email lands on the message in its folder.
    page.goto(f"{base}/messages/{m['id']}")
    assert page.url.endswith(f"/messages?folder=work#m{m['id']}")
    shot(page, "messages-work", "desktop")

    # Delete it (the confirmation is accepted): the phone hears 0/0.
    page.locator(f"#m{m['id']}").get_by_role("button", name="Delete").click()
    assert page.get_by_role("status").inner_text() == "Deleted 1 message."
    assert messages(p, "101") == []
    sub.assert_ok(timeout=20)

    # The same pages at a phone's width.
    phone = browser.new_page(viewport=SIZES["phone"])
    phone.goto(base + "/login")
    shot(phone, "login", "phone")
    login(phone, base, "101", "secret101")
    shot(phone, "messages", "phone")
    assert_fits(phone)
    # Logging out ends the session.
    phone.get_by_role("button", name="Log out").click()
    phone.goto(base + "/messages")
    assert "/login" in phone.url


def test_another_users_mailbox_is_refused_and_forms_need_the_session_token(parley_factory, browser):
    p = parley_factory()
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page()
    login(page, base, "101", "secret101")
    r = page.goto(base + "/messages?mailbox=100")
    assert r.status == 403
    # A form posted without the session's token (as another site would) changes nothing.
    r = page.request.post(base + "/messages?folder=new", form={"act": "delete", "sel": "1"})
    assert r.status == 403
