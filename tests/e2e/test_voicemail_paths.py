"""Voicemail paths walked by a real phone (baresip) against the real binary, checked by what a person
perceives: the tones a phone hears and the audio of the files Parley keeps. Prompts whose hearing is the
point of a test are replaced, through the `prompts` directory option, by WAVs of distinctive tones
(the rest falls back to the bundled English set); greetings and announcements are recorded by phone with
each phone's own tone. Frequencies are all distinct, avoid 1000 Hz (the beep) and are multiples of 20 Hz
(`find_tone` looks on a 20 Hz grid; a tone between two of its bins is missed)."""
import base64
import json
import time
import urllib.request

from peers import Baresip
from vmhelp import find_tone, message_file, messages, pcm_tone, prompt_secs, record_by_phone, tone_of, wait_for

PIN = "2580"
COUNTS = ("vm-youhave", "vm-no", "vm-messages")  # "you have no messages", said after login


def start(parley_factory, **config):
    p = parley_factory(**config)
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    p.start()
    p.cli("user", "set", "101", "--pin", PIN)
    return p


def tone_prompts(tmp_path, **tones):
    """A prompt directory where each named prompt (`vm_help=(700, 3.0)` for `vm-help.wav`) is a tone."""
    d = tmp_path / "prompts"
    d.mkdir(exist_ok=True)
    for name, (freq, secs) in tones.items():
        pcm_tone(d / f"{name.replace('_', '-')}.wav", freq, secs)
    return str(d)


def registered(p, ext):
    return any(r["extension"] == ext for r in p.status()["registrations"])


def phone(tmp_path, p, name, offset, ext, freq):
    """A baresip phone at SIP port p.sip_port + offset (control port + offset + 2), sending `freq`."""
    b = Baresip(tmp_path, name, p.sip_port + offset, p.sip_port + offset + 2, p.sip_port, ext, f"secret{ext}",
                freq, tone_secs=120)
    wait_for(lambda: registered(p, ext), what=f"{ext}'s registration")
    return b


def hang_up(b):
    """Hang up and return what the phone heard during that call (its decoded-audio recording)."""
    seen = len(b.events)
    b.send("hangup")
    b.wait_event("CALL_CLOSED", secs=15, since=seen)
    b.events.clear()  # the next dial waits for its own CALL_ESTABLISHED
    return last_heard(b)


def last_heard(b):
    b.drain(0.5)  # let the recorder close its file
    recs = b.recordings("dec")
    assert recs, "the phone recorded nothing"
    return max(recs, key=lambda r: r.stat().st_mtime)


def login(b, p):
    b.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
    b.press(PIN + "#")


def api_put(p, path, body, auth):
    req = urllib.request.Request(f"http://127.0.0.1:{p.http_port}{path}", data=json.dumps(body).encode(),
                                 method="PUT")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def assert_tone(path, freq):
    (f, share), level = tone_of(path)
    assert abs(f - freq) <= 10 and share > 0.6 and level > 2000, (path.name, f, share, level)


def test_star_in_the_main_menu_plays_the_help_and_then_the_main_menu_again(parley_factory, tmp_path):
    """Seed 001, main menu: "* Help". The help prompt (vm-help) is a 700 Hz tone and the main menu
    prompt (vm-mainmenu) a 500 Hz one in the configured prompts directory. A first login that waits in
    the main menu without pressing * never hears 700 Hz (but does reach the main menu); a second login
    presses * once the main menu has been said: the phone hears the main menu, then the help (about 3 s
    of 700 Hz), then the main menu again."""
    p = start(parley_factory, prompts=tone_prompts(tmp_path, vm_help=(700, 3.0), vm_mainmenu=(500, 2.0)))
    owner = phone(tmp_path, p, "owner", 6, "101", 440)
    try:
        to_menu = prompt_secs(*COUNTS) + 2.0 + 2.5  # the PIN check, the counts, the main menu, a margin
        login(owner, p)
        owner.drain(to_menu + 3.0)  # waits in the main menu, no key
        control = hang_up(owner)
        login(owner, p)
        owner.drain(to_menu)
        owner.press("*")
        owner.drain(3.0 + 2.0 + 1.5)  # the help, then the main menu again
        heard = hang_up(owner)
    finally:
        owner.stop()
    assert find_tone(control, 500), "the control call reached the main menu"
    assert not find_tone(control, 700), "no help without *"
    help_at = find_tone(heard, 700)
    menu_at = find_tone(heard, 500)
    print(f"help heard at {help_at}, main menu at {menu_at}")
    assert len(help_at) >= 4, help_at  # at least 2 of the 3 s
    assert menu_at and min(menu_at) < min(help_at), "the main menu came first; the help only after *"
    assert max(menu_at) > max(help_at), "after the help, the main menu is said again"


def test_zero_after_a_caller_records_a_message_reaches_the_operator_and_keeps_the_message(
        parley_factory, tmp_path):
    """Seed 001, after recording a message: "0 Reach operator (if configured by your administrator)".
    With `voicemail_operator = "102"`, a caller skips the greeting, records 3 s of 600 Hz, ends with #:
    the review menu offers the operator (vm-review-operator, here a 900 Hz tone, is heard); 0 then
    transfers the caller's phone to 102 (the operator's phone rings and talks with 100), and the take
    is kept as a message holding the caller's 600 Hz (as Asterisk, which saves before the transfer)."""
    p = start(parley_factory, voicemail_operator="102",
              prompts=tone_prompts(tmp_path, vm_review_operator=(900, 2.0)))
    operator = phone(tmp_path, p, "op", 6, "102", 1300)
    caller = phone(tmp_path, p, "caller", 12, "100", 600)
    try:
        caller.dial(f"sip:101@127.0.0.1:{p.sip_port}", settle=0.5)  # 101 is not registered: its voicemail
        caller.press("#")  # skip the greeting: the beep, then the recording
        caller.drain(prompt_secs("beep") + 3.0)
        caller.press("#")  # end the take: the review menu
        caller.drain(prompt_secs("vm-review") + 2.0 + 0.5)
        operator.drain(0.2)
        assert not operator.of_type("CALL_INCOMING"), "nothing rang the operator before 0"
        (voicemail_call,) = caller.recordings("dec")  # what the caller hears of voicemail
        caller.press("0")
        operator.wait_event("CALL_ESTABLISHED", secs=15)  # the caller's phone, referred, calls 102
        calls = wait_for(lambda: p.status()["calls"], what="the transferred call")
        assert (calls[0]["caller"], calls[0]["callee"]) == ("100", "102"), calls
    finally:
        caller.stop()
        operator.stop()
    heard = voicemail_call
    assert find_tone(heard, 900), "the review menu offered 0 for the operator"
    assert "transfer accepted by the caller's phone" in p.log.read_text()
    msgs = wait_for(lambda: messages(p, "101"), what="the kept message")
    assert len(msgs) == 1 and msgs[0]["caller"] == "100", msgs
    assert 2000 <= msgs[0]["duration_ms"] <= 4500, msgs[0]
    assert_tone(message_file(p, msgs[0]), 600)


def test_zero_is_not_offered_while_the_owner_records_a_greeting(parley_factory, tmp_path):
    """Seed 001: "0 Reach operator ... Not available during greetings recording". With an operator
    configured (102, registered), the owner records the unavailable greeting (0 1, 3 s of 440 Hz, #):
    the review menu does not offer the operator (vm-review-operator, a 900 Hz tone, is never heard);
    0 there is refused (vm-sorry, a 1300 Hz tone, is heard) and the review goes on: 1 then keeps the
    greeting (the file holds the owner's 440 Hz). The operator's phone never rings."""
    p = start(parley_factory, voicemail_operator="102",
              prompts=tone_prompts(tmp_path, vm_review_operator=(900, 2.0), vm_sorry=(1300, 1.5)))
    operator = phone(tmp_path, p, "op", 6, "102", 700)
    owner = phone(tmp_path, p, "owner", 12, "101", 440)
    try:
        login(owner, p)
        owner.drain(1.5)
        owner.press("01", gap=0.5)  # mailbox options, record the unavailable greeting
        owner.drain(prompt_secs("vm-rec-unv", "beep") + 3.0)
        owner.press("#")
        owner.drain(prompt_secs("vm-review") + 1.0)
        owner.press("0")
        owner.drain(1.5 + prompt_secs("vm-review") + 1.0)  # sorry, then the review menu again
        owner.press("1")  # keep it
        owner.drain(prompt_secs("vm-greetsaved") + 1.0)
        operator.drain(3.0)
        heard = hang_up(owner)
    finally:
        owner.stop()
        operator.stop()
    assert find_tone(heard, 1300), "0 at the greeting's review is refused (sorry)"
    assert not find_tone(heard, 900), "the greeting's review does not offer the operator"
    assert not operator.of_type("CALL_INCOMING") and not operator.of_type("CALL_ESTABLISHED"), \
        "the operator's phone rang"
    assert "transferring the caller to the operator" not in p.log.read_text()  # logged when 0 transfers
    assert_tone(p.data / "voicemail" / "101" / "greetings" / "unavailable.wav", 440)


def test_busy_greeting_recorded_by_phone_is_heard_by_a_caller_while_the_owner_is_on_another_call(
        parley_factory, tmp_path):
    """Seed 001: "To record your busy message · *97, password, 0, 2 · Once recording is finished, dial
    #, 1"; "Busy: caller understands that you are in the office, but busy talking on the other line".
    The owner records the busy greeting by phone (3 s of its 740 Hz); an unavailable greeting (540 Hz)
    is also present. With call waiting off, while the owner talks with 102, a caller (100) calling 101
    goes to voicemail as busy and hears the owner's 740 Hz, not the unavailable 540 Hz."""
    p = start(parley_factory, call_waiting=False)
    greetings = p.data / "voicemail" / "101" / "greetings"
    greetings.mkdir(parents=True, exist_ok=True)
    pcm_tone(greetings / "unavailable.wav", 540, 3.0)
    owner = phone(tmp_path, p, "owner", 6, "101", 740)
    other = phone(tmp_path, p, "other", 12, "102", 1300)
    caller = phone(tmp_path, p, "caller", 16, "100", 440)
    try:
        login(owner, p)
        owner.drain(1.5)
        record_by_phone(owner, "02", "vm-rec-busy")
        hang_up(owner)
        assert_tone(greetings / "busy.wav", 740)
        seen = len(owner.events)
        owner.send("dial", f"sip:102@127.0.0.1:{p.sip_port}")  # 102 answers: the owner is busy
        owner.wait_event("CALL_ESTABLISHED", since=seen)
        other.wait_event("CALL_ESTABLISHED")
        caller.dial(f"sip:101@127.0.0.1:{p.sip_port}", settle=0.5)
        caller.drain(4.0)
        heard = hang_up(caller)
    finally:
        caller.stop()
        other.stop()
        owner.stop()
    busy_at = find_tone(heard, 740)
    assert len(busy_at) >= 4, busy_at  # at least 2 of the greeting's 3 s
    assert not find_tone(heard, 540), "the unavailable greeting is not the one for a busy owner"
    assert "mailbox=101 reason=Busy" in p.log.read_text()


def test_announcements_b_and_c_recorded_by_phone_land_and_the_chosen_one_is_heard(parley_factory, tmp_path):
    """README / seed 000 (Callisto announcements Standard/A/B/C) with the classic keys: *97, PIN, 0 6 2
    records announcement B, 0 6 3 announcement C (each # 1). B is recorded from a phone sending 660 Hz,
    C from one sending 860 Hz: greetings/announcement-b.wav and announcement-c.wav hold those tones.
    Made active through the JSON API (Recording active off, Callisto's default for A/B/C), C is what a
    caller hears (860 Hz, never B's 660 Hz), then goodbye: Parley ends the call and no message is left."""
    p = start(parley_factory)
    greetings = p.data / "voicemail" / "101" / "greetings"
    for name, offset, freq, keys, prompt in (("ownerB", 6, 660, "062", "vm-rec-ann-b"),
                                             ("ownerC", 12, 860, "063", "vm-rec-ann-c")):
        owner = phone(tmp_path, p, name, offset, "101", freq)
        try:
            login(owner, p)
            owner.drain(1.5)
            record_by_phone(owner, keys, prompt)
            hang_up(owner)
        finally:
            owner.stop()
        wait_for(lambda: not registered(p, "101"), what="the owner's phone to unregister")
    assert_tone(greetings / "announcement-b.wav", 660)
    assert_tone(greetings / "announcement-c.wav", 860)
    choice = {"active": "c", "recording": {"standard": True, "a": False, "b": False, "c": False}}
    status, body = api_put(p, "/api/v1/mailboxes/101/announcements", choice, ("101", "secret101"))
    assert status == 200 and body == choice, body
    caller = phone(tmp_path, p, "caller", 16, "100", 440)
    try:
        caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        caller.wait_event("CALL_ESTABLISHED")
        caller.wait_event("CALL_CLOSED", secs=20)  # announce-only: Parley hangs up after goodbye
        heard = last_heard(caller)
    finally:
        caller.stop()
    ann_at = find_tone(heard, 860)
    assert len(ann_at) >= 4, ann_at
    assert not find_tone(heard, 660), "announcement B is recorded but not the one chosen"
    time.sleep(1.0)
    assert messages(p, "101") == []
