"""Greetings and announcements on the portal, in a real headless Chromium against the running binary:
upload in the seed's format (kept byte for byte), in another format (FLAC 44.1 kHz stereo, converted),
a corrupt file (refused, nothing replaced); make announcement A active with "Recording active" off and
check by calls that a caller hears it and cannot leave a message (baresip hears the announcement, a
SIPp caller is hung up on), then switch recording on and a SIPp caller leaves a message."""
import subprocess
import wave

from playwright.sync_api import expect

from peers import Baresip
from test_portal import SIZES, assert_fits, browser, login, shot  # noqa: F401 (fixture)
from test_voicemail import TE, deposit, wait_for
from vmhelp import first_sound, messages, pcm_tone, tone_of, ulaw_tone


def upload(page, kind, path):
    page.get_by_label("Greeting", exact=True).select_option(kind)
    page.get_by_label("Audio file", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def test_upload_formats_switch_the_announcement_and_callers_hear_it(parley_factory, sipp, browser, tmp_path):
    p = parley_factory()
    for ext in ("100", "101"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    base = f"http://127.0.0.1:{p.http_port}"
    greetings = p.data / "voicemail" / "101" / "greetings"

    page = browser.new_page(viewport=SIZES["desktop"])
    page.on("dialog", lambda d: d.accept())
    login(page, base, "101", "secret101")
    page.goto(base + "/greetings")
    shot(page, "greetings-empty", "desktop")
    # Announcement A as a WAV in the seed's format: stored exactly as uploaded.
    seed = pcm_tone(tmp_path / "a.wav", 600, 2.0)
    upload(page, "announcement-a", seed)
    expect(page.get_by_role("status")).to_contain_text("Announcement A saved (2.0 s)")
    expect(page.get_by_role("status")).to_contain_text("stored as uploaded")
    assert (greetings / "announcement-a.wav").read_bytes() == seed.read_bytes()
    # Announcement B as FLAC, 44.1 kHz stereo: converted once to 8 kHz 16-bit mono.
    flac = tmp_path / "b.flac"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(flac), "synth", "2.5", "sine", "900",
                    "vol", "0.5"], check=True)
    upload(page, "announcement-b", flac)
    expect(page.get_by_role("status")).to_contain_text("Announcement B saved (2.5 s)")
    expect(page.get_by_role("status")).to_contain_text("FLAC")
    expect(page.get_by_role("status")).to_contain_text("44100 Hz, stereo")
    expect(page.get_by_role("status")).to_contain_text("converted once to the telephone format")
    with wave.open(str(greetings / "announcement-b.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    (freq, share), level = tone_of(greetings / "announcement-b.wav", 0.5, 1.5)
    assert abs(freq - 900) <= 10 and share > 0.8 and level > 3000, (freq, share, level)
    # A corrupt file is refused with a clear message and announcement A stays as it was.
    junk = tmp_path / "broken.wav"
    junk.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    upload(page, "announcement-a", junk)
    expect(page.get_by_role("alert")).to_contain_text("Nothing was replaced: not an audio file Parley can read")
    assert (greetings / "announcement-a.wav").read_bytes() == seed.read_bytes()
    # Both play in the browser.
    for kind in ("announcement-a", "announcement-b"):
        audio = page.locator(f"#g-{kind} audio")
        audio.evaluate("a => a.play()")
        page.wait_for_function("a => a.currentTime > 0.3", arg=audio.element_handle(), timeout=10000)
        assert audio.evaluate("a => a.error") is None

    # Make A active; its "Recording active" is off by default (Callisto: only Standard records).
    assert not page.get_by_label("Recording active for Announcement A").is_checked()
    assert page.get_by_label("Recording active for Standard").is_checked()
    page.get_by_label("Make Announcement A active").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved. Announcement A is active; callers hear it and cannot leave a message.")
    shot(page, "greetings", "desktop")

    # A caller (baresip) hears announcement A, then goodbye, and Parley ends the call.
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: p.status()["registrations"], what="the caller's registration")
        caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        caller.wait_event("CALL_ESTABLISHED")
        caller.wait_event("CALL_CLOSED", secs=20)
        rec = caller.recordings("dec")[-1]
        t = first_sound(rec)
        assert t is not None, "no announcement heard"
        (freq, share), _ = tone_of(rec, t + 0.2, 1.2)
        assert abs(freq - 600) <= 20 and share > 0.6, (freq, share)
    finally:
        caller.stop()
    # A SIPp caller streaming audio is hung up on after the announcement; no message is stored.
    wav = ulaw_tone(tmp_path / "caller.wav", 440, 15)
    sipp(p, "uac_vm_announce.xml", port=p.sip_port + 10, user="100", password="secret100", service="101",
         subst={"caller": "100", "wav": wav, "te": TE, "within": 12000}).assert_ok()
    assert messages(p, "101") == []

    # Recording active on: the next caller leaves a message after announcement A.
    page.get_by_label("Recording active for Announcement A").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved. Announcement A is active; callers can leave a message after it.")
    deposit(p, sipp, tmp_path, hold=6000, port=30).assert_ok()
    [m] = wait_for(lambda: messages(p, "101"), what="the message")
    assert m["duration_ms"] >= 2000

    # Deleting the active announcement makes the standard one active again.
    page.locator("#g-announcement-a").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Announcement A greeting deleted.")
    assert page.get_by_label("Make Standard active").is_checked()
    assert not (greetings / "announcement-a.wav").exists()

    phone = browser.new_page(viewport=SIZES["phone"])
    login(phone, base, "101", "secret101")
    phone.goto(base + "/greetings")
    shot(phone, "greetings", "phone")
    assert_fits(phone)
