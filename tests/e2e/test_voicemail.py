"""Voicemail by telephone, end to end: callers (SIPp streaming RTP, baresip) leave messages; the owner
logs in with *97 (RFC 4733 and in-band DTMF), hears and manages them; greetings are chosen by reason;
diverted calls from another PBX land in the named mailbox; message-waiting NOTIFYs follow the counts;
a kill -9 mid-recording loses no message; wrong PINs end the call and lock the mailbox."""
import pytest
import time


from peers import Baresip
from vmhelp import (find_tone, shows_number, first_sound, inband_dtmf, message_file, messages, own_lines, pcm_tone, prompt_secs,
                    record_by_phone, tone_of, ulaw_tone, wait_for)

TE = " 101\na=rtpmap:101 telephone-event/8000"
SYSTEM_GREETING = ("vm-theperson", "digits/1", "digits/0", "digits/1", "vm-isunavail", "vm-intro", "beep")


def start(parley_factory, **config):
    p = parley_factory(**config)
    for ext in ("100", "101", "102"):
        p.add_user(ext, f"secret{ext}")
    return p.start()


def deposit(p, sipp, tmp_path, to="101", caller="100", freq=440, hold=12000, port=10, te=TE, m=1):
    wav = ulaw_tone(tmp_path / f"tone-{freq}-{port}.wav", freq, hold / 1000 + 3)
    return sipp(p, "uac_vm_stream.xml", port=p.sip_port + port, user=caller, password=f"secret{caller}",
                service=to, m=m, subst={"caller": caller, "wav": wav, "hold": hold, "te": te})


@pytest.mark.postgres
def test_unanswered_call_goes_to_voicemail_and_the_message_keeps_the_callers_audio(parley_factory, sipp, tmp_path):
    p = start(parley_factory, no_answer_secs=2)
    # 101's phone rings and nobody answers: after 2 s the caller is diverted to 101's voicemail.
    sipp(p, "register.xml", port=p.sip_port + 4, user="101", password="secret101", service="101",
         keys={"expires": 300}).assert_ok()
    callee = sipp(p, "uas_ring_cancel.xml", port=p.sip_port + 4)
    time.sleep(0.3)
    caller = deposit(p, sipp, tmp_path, hold=14000)
    caller.assert_ok()
    callee.assert_ok()
    msgs = wait_for(lambda: messages(p, "101"), what="the message")
    assert len(msgs) == 1
    m = msgs[0]
    assert (m["caller"], m["caller_name"], m["folder"]) == ("100", "User 100", "new")
    expected_ms = (14.0 - prompt_secs(*SYSTEM_GREETING)) * 1000  # the hold starts at the answer
    assert abs(m["duration_ms"] - expected_ms) < 1500, (m, expected_ms)
    (freq, share), level = tone_of(message_file(p, m))
    assert abs(freq - 440) <= 10 and share > 0.8 and level > 3000, (freq, share, level)
    assert "reason=NoAnswer" in p.log.read_text()


@pytest.mark.postgres
def test_owner_hears_counts_plays_saves_to_work_and_deletes_while_a_subscriber_follows_the_counts(
        parley_factory, sipp, tmp_path):
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    # A phone of 101 subscribes to its message summary and expects NOTIFYs in this order.
    sub = sipp(p, "mwi_subscribe.xml", port=p.sip_port + 16, user="101", password="secret101", service="101",
               subst={"c1": "0/0", "c2": "1/0", "c3": "2/0", "c4": "1/1"})
    wait_for(lambda: p.status()["mwi_subscriptions"] == 1, what="the subscription")
    deposit(p, sipp, tmp_path, freq=440, hold=10000).assert_ok()
    wait_for(lambda: len(messages(p, "101")) == 1, what="message 1")
    deposit(p, sipp, tmp_path, freq=880, hold=10000).assert_ok()
    wait_for(lambda: len(messages(p, "101")) == 2, what="message 2")
    first, second = messages(p, "101")

    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 1000)
    try:
        wait_for(lambda: p.status()["registrations"], what="the owner's registration")
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.press("2580#")
        owner.drain(1.5)
        owner.send("sndcode", "1")  # listen: envelope, then message 1 (440 Hz), then the message menu
        owner.drain(16.0)
        owner.send("sndcode", "9")  # save in a folder...
        owner.drain(1.0)
        owner.send("sndcode", "2")  # ...Work; message 2 starts
        owner.drain(4.0)
        owner.send("sndcode", "7")  # delete message 2
        owner.drain(2.5)
        owner.send("sndcode", "#")  # exit
        owner.wait_event("CALL_CLOSED", secs=10)
        heard = owner.recordings("dec")[-1]
        assert find_tone(heard, 440), "message 1's audio was not played back"
    finally:
        owner.stop()
    sub.assert_ok(timeout=20)
    left = {m["id"]: m["folder"] for m in messages(p, "101")}
    assert left == {first["id"]: "work"}, left
    assert not message_file(p, second).exists()
    log = p.log.read_text()
    assert "mailbox login mailbox=101 ok=true" in log
    assert not shows_number(own_lines(log), "2580")


def test_busy_and_unavailable_greetings_and_the_temporary_override(parley_factory, sipp, tmp_path):
    p = start(parley_factory)
    greetings = p.data / "voicemail" / "101" / "greetings"
    greetings.mkdir(parents=True)
    for kind, freq in (("unavailable", 600), ("busy", 800), ("temporary", 1200)):
        pcm_tone(greetings / f"{kind}.wav", freq, 1.5)
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)

    def greeting_heard():
        caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")
        caller.wait_event("CALL_ESTABLISHED")
        caller.drain(2.5)
        caller.send("hangup")
        caller.wait_event("CALL_CLOSED")
        caller.events.clear()
        rec = caller.recordings("dec")[-1]
        t = first_sound(rec)
        assert t is not None, "no greeting heard"
        (freq, share), _ = tone_of(rec, t + 0.2, 0.8)
        return freq

    try:
        wait_for(lambda: p.status()["registrations"], what="the caller's registration")
        assert abs(greeting_heard() - 600) <= 20  # 101 not registered: unavailable greeting
        sipp(p, "register.xml", port=p.sip_port + 4, user="101", password="secret101", service="101",
             keys={"expires": 300}).assert_ok()
        busy = sipp(p, "uas_status.xml", port=p.sip_port + 4, subst={"status": 486})
        time.sleep(0.3)
        assert abs(greeting_heard() - 800) <= 20  # 101 answers 486: busy greeting
        busy.assert_ok()
        p.cli("mailbox", "set", "101", "--temporary", "on")
        busy = sipp(p, "uas_status.xml", port=p.sip_port + 4, subst={"status": 486})
        time.sleep(0.3)
        assert abs(greeting_heard() - 1200) <= 20  # temporary overrides busy
        busy.assert_ok()
    finally:
        caller.stop()


def test_calls_diverted_by_another_pbx_land_in_the_named_mailbox(parley_factory, sipp, tmp_path):
    p = start(parley_factory, voicemail_pbx_peers=["127.0.0.1"], voicemail_pilot="*86")
    # 102's phone is registered and does not subscribe: it gets an unsolicited NOTIFY.
    sipp(p, "register.xml", port=p.sip_port + 4, user="102", password="secret102", service="102",
         keys={"expires": 300}).assert_ok()
    lamp = sipp(p, "uas_notify.xml", port=p.sip_port + 4, subst={"counts": "1/0"})
    wav = ulaw_tone(tmp_path / "pbx.wav", 1000, 14)
    pbx = sipp(p, "pbx_divert.xml", port=p.sip_port + 10, service="*86",
               subst={"wav": wav, "hold": 11000, "divert": "Diversion: <sip:102@10.9.9.9>;reason=user-busy;counter=1"})
    pbx.assert_ok()
    lamp.assert_ok(timeout=15)
    pbx = sipp(p, "pbx_divert.xml", port=p.sip_port + 12, service="*86",
               subst={"wav": wav, "hold": 11000,
                      "divert": "History-Info: <sip:101@10.9.9.9?Reason=SIP%3Bcause%3D408>;index=1, "
                                "<sip:*86@127.0.0.1>;index=1.1"})
    pbx.assert_ok()
    m102 = wait_for(lambda: messages(p, "102"), what="102's message")
    m101 = wait_for(lambda: messages(p, "101"), what="101's message")
    assert m102[0]["caller"] == "5551234" and m101[0]["caller"] == "5551234"
    (freq, _), _ = tone_of(message_file(p, m102[0]))
    assert abs(freq - 1000) <= 10
    log = p.log.read_text()
    assert "mailbox=102 reason=Busy" in log and "mailbox=101 reason=NoAnswer" in log


@pytest.mark.postgres
def test_kill_9_during_simultaneous_recordings_loses_no_message(parley_factory, sipp, tmp_path):
    p = start(parley_factory)
    callers = deposit(p, sipp, tmp_path, hold=30000, m=3)
    wait_for(lambda: sum(v["recording"] for v in p.status()["voicemail"]) == 3, secs=20, what="3 recordings")
    time.sleep(4)
    p.proc.kill()
    p.proc.wait()
    callers.proc.kill()
    p.start()
    msgs = messages(p, "101")
    assert len(msgs) == 3, msgs
    assert len({m["id"] for m in msgs}) == 3
    for m in msgs:
        assert m["duration_ms"] >= 3000, m
        (freq, share), _ = tone_of(message_file(p, m))
        assert abs(freq - 440) <= 10 and share > 0.8
    assert p.log.read_text().count("recovered a message") == 3


def test_in_band_dtmf_logs_in(parley_factory, sipp, tmp_path):
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    wav = inband_dtmf(tmp_path / "keys.wav", "2580#")
    s = sipp(p, "uac_vm_stream.xml", port=p.sip_port + 10, user="101", password="secret101", service="*97",
             subst={"caller": "101", "wav": wav, "hold": 7000, "te": ""})
    s.assert_ok()
    assert "mailbox login mailbox=101 ok=true" in p.log.read_text()


def test_wrong_pins_end_the_call_and_lock_the_mailbox(parley_factory, tmp_path):
    p = start(parley_factory, pin_max_failures=3)
    p.cli("user", "set", "101", "--pin", "2580")
    phone = Baresip(tmp_path, "phone", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440)

    def attempt(pin, tries):
        phone.dial(f"sip:*98@127.0.0.1:{p.sip_port}")
        for _ in range(tries):
            phone.press(f"101#{pin}#")
            phone.drain(2.5)
        phone.wait_event("CALL_CLOSED", secs=15)
        phone.events.clear()

    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        attempt("9999", 3)  # three wrong PINs: Parley says goodbye and hangs up
        locks = [lk["what"] for lk in p.status()["lockouts"]]
        assert "mailbox 101" in locks, locks
        attempt("2580", 1)  # the right PIN is refused while locked
    finally:
        phone.stop()
    log = p.log.read_text()
    assert log.count("mailbox login mailbox=101 ok=false") == 3
    assert "mailbox login refused: locked" in log
    own = own_lines(log)  # the SIP stack's raw messages hold random digits; Parley's own lines must not hold a PIN
    assert not shows_number(own, "9999") and not shows_number(own, "2580")


def test_default_pin_must_be_changed_at_first_login(parley_factory, tmp_path):
    p = start(parley_factory, voicemail_default_pin="1234")
    phone = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440)
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        phone.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        for keys in ("1234#", "1111#", "2580#", "2580#"):  # default PIN, a trivial one refused, the new one twice
            phone.press(keys)
            phone.drain(1.5)
        phone.drain(2.0)
        # Mailbox options, record the unavailable greeting: the phone's 440 Hz tone for 3 s, #, 1 accept.
        phone.press("01", gap=0.5)
        phone.drain(prompt_secs("vm-rec-unv", "beep") + 3.0)
        phone.send("sndcode", "#")
        phone.drain(1.0)
        phone.send("sndcode", "1")
        phone.drain(1.0)
        phone.send("sndcode", "*")  # back to the main menu
        phone.drain(0.5)
        phone.send("sndcode", "#")
        phone.wait_event("CALL_CLOSED", secs=20)
    finally:
        phone.stop()
    log = p.log.read_text()
    assert "PIN changed by phone" in log and "greeting saved" in log
    assert "set" in p.cli("user", "list").stdout.splitlines()[2]
    greeting = p.data / "voicemail" / "101" / "greetings" / "unavailable.wav"
    (freq, share), level = tone_of(greeting)
    assert abs(freq - 440) <= 10 and share > 0.6 and level > 2000, (freq, share, level)


def test_zero_four_records_the_temporary_greeting_at_once_and_then_offers_to_switch_it_off(parley_factory, tmp_path):
    """Seed 001: "Record your temporary / out of office message · *97, password, 0, 4 · Once recording is
    finished, dial #, 1". With one on, 0 4 offers 1 record again or 2 switch it off (as Asterisk)."""
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    phone = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440,
                    tone_secs=120)

    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        phone.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        phone.press("2580#")
        phone.drain(1.5)
        record_by_phone(phone, "01", "vm-rec-unv")  # an unavailable greeting first (needed to switch the temporary off)
        record_by_phone(phone, "4", "vm-rec-temp")  # in mailbox options: 4 records the temporary greeting at once
        assert "temporary greeting: active" in p.cli("mailbox", "show", "101").stdout
        phone.press("4")  # one is on now: 4 offers to record again (1) or switch it off (2)
        phone.drain(prompt_secs("vm-tmpexists", "vm-tempgreeting2") + 0.5)
        phone.press("2")
        phone.drain(prompt_secs("vm-tempremoved") + 0.5)
        phone.send("hangup")
        phone.wait_event("CALL_CLOSED", secs=15)
    finally:
        phone.stop()
    assert "temporary greeting: off" in p.cli("mailbox", "show", "101").stdout
    log = p.log.read_text()
    assert 'greeting saved mailbox=101 greeting="temporary"' in log
    assert "temporary greeting deactivated" in log
    (freq, share), level = tone_of(p.data / "voicemail" / "101" / "greetings" / "temporary.wav")
    assert abs(freq - 440) <= 10 and share > 0.6 and level > 2000, (freq, share, level)


def test_mwi_calibrate_switches_the_lamp_of_a_phone(parley_factory, sipp):
    p = start(parley_factory)
    sipp(p, "register.xml", port=p.sip_port + 4, user="102", password="secret102", service="102",
         keys={"expires": 300}).assert_ok()
    lamp = sipp(p, "uas_notify.xml", port=p.sip_port + 4, subst={"counts": "0/0"})
    time.sleep(0.3)
    out = p.cli("mailbox", "mwi", "102", "on", "--http", f"127.0.0.1:{p.http_port}").stdout
    assert "1 phone(s) notified" in out, out
    lamp.assert_ok(timeout=10)


def test_zero_during_the_greeting_transfers_the_caller_to_the_operator(parley_factory, tmp_path):
    p = start(parley_factory, voicemail_operator="102")
    operator = Baresip(tmp_path, "op", p.sip_port + 6, p.sip_port + 9, p.sip_port, "102", "secret102", 1000)
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: len(p.status()["registrations"]) == 2, what="registrations")
        caller.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")  # 101 is not registered: its voicemail
        caller.wait_event("CALL_ESTABLISHED")
        caller.drain(1.0)
        caller.send("sndcode", "0")
        operator.wait_event("CALL_ESTABLISHED", secs=15)  # the caller's phone, referred, calls 102
        calls = wait_for(lambda: p.status()["calls"], what="the transferred call")
        assert (calls[0]["caller"], calls[0]["callee"]) == ("100", "102")
    finally:
        caller.stop()
        operator.stop()
    assert "transfer accepted by the caller's phone" in p.log.read_text()


def test_mark_as_read_stores_messages_old_and_a_subscription_refreshes_and_ends(parley_factory, sipp, tmp_path):
    p = start(parley_factory)
    p.cli("mailbox", "set", "101", "--mark-read", "on")
    sub = sipp(p, "mwi_refresh.xml", port=p.sip_port + 16, user="101", password="secret101", service="101",
               subst={"c1": "0/0", "c2": "0/1", "waiting": "no"})
    wait_for(lambda: p.status()["mwi_subscriptions"] == 1, what="the subscription")
    deposit(p, sipp, tmp_path, hold=10000).assert_ok()
    sub.assert_ok(timeout=20)
    assert [m["folder"] for m in messages(p, "101")] == ["old"]
    wait_for(lambda: p.status()["mwi_subscriptions"] == 0, what="the subscription to end")


def test_star_during_own_greeting_logs_in_and_leaves_a_message_in_another_mailbox(parley_factory, tmp_path):
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    phone = Baresip(tmp_path, "away", p.sip_port + 6, p.sip_port + 9, p.sip_port, "100", "secret100", 440)
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        phone.send("dial", f"sip:101@127.0.0.1:{p.sip_port}")  # 101 is away: its greeting plays
        phone.wait_event("CALL_ESTABLISHED")
        phone.drain(1.0)
        phone.send("sndcode", "*")  # remote access to 101
        phone.drain(1.0)
        for keys in ("2580#", "35", "102#"):  # PIN; advanced options, leave a message; to mailbox 102
            phone.press(keys, gap=0.4)
            phone.drain(1.0)
        phone.drain(prompt_secs("vm-intro", "beep") + 3.0)  # the phone's 440 Hz is recorded for ~3 s
        phone.send("sndcode", "#")
        phone.drain(1.0)
        phone.send("sndcode", "1")  # accept
        phone.drain(2.0)
        phone.send("hangup")
        phone.wait_event("CALL_CLOSED")
    finally:
        phone.stop()
    msgs = messages(p, "102")
    assert len(msgs) == 1 and msgs[0]["caller"] == "101", msgs
    assert msgs[0]["duration_ms"] >= 2000
    (freq, _), _ = tone_of(message_file(p, msgs[0]))
    assert abs(freq - 440) <= 10


@pytest.mark.postgres
def test_pound_fast_forwards_and_star_rewinds_while_a_message_plays(parley_factory, sipp, tmp_path):
    # Played in parts as it plays (files by offset; on PostgreSQL, the database's chunks by range),
    # the seeks leaving the part in memory each time.
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    deposit(p, sipp, tmp_path, hold=int((prompt_secs(*SYSTEM_GREETING) + 12.5) * 1000)).assert_ok()
    (m,) = wait_for(lambda: messages(p, "101"), what="the message")
    assert m["duration_ms"] >= 11500, m
    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 1000)

    def listen(key):
        """Listen to the 12 s message, pressing `key` three times 1 s apart from 11 s after '1'
        (the envelope takes about 8 s): returns the seconds of the message's 440 Hz heard."""
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.press("2580#")
        owner.drain(1.0)
        owner.send("sndcode", "1")
        owner.drain(11.0 if key == "#" else 14.0)
        for _ in range(3):
            owner.send("sndcode", key)
            owner.drain(1.0)
        # Fast-forwarded, the message is over by now; rewound, it has about 12 s left.
        owner.drain(4.0 if key == "#" else 17.0)
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED")
        owner.events.clear()
        return 0.5 * len(find_tone(owner.recordings("dec")[-1], 440))

    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        forwarded = listen("#")   # three 3 s jumps ahead: about 5 s of the 12 s heard
        rewound = listen("*")     # three 3 s jumps back: about 20 s heard
    finally:
        owner.stop()
    print(f"heard {forwarded}s after fast-forward, {rewound}s after rewind")
    assert 2.0 <= forwarded <= 8.0, forwarded
    assert rewound >= 14.0, rewound  # without keys the 12 s message is heard for about 12 s


def test_pin_name_busy_greeting_and_announcement_recorded_by_phone_reach_the_next_login_and_caller(
        parley_factory, tmp_path):
    """Seed 001 with a real phone: 0 5 changes the PIN (the next login needs the new one), then in the
    mailbox options 3 records the name (a caller then hears it in the system greeting), 2 the busy
    greeting and 6 1 announcement A, each accepted with # 1."""
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440,
                    tone_secs=120)

    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.press("2580#")
        owner.drain(1.5)
        owner.press("05", gap=0.5)
        owner.drain(prompt_secs("vm-newpassword") + 0.5)
        owner.press("1357#")
        owner.drain(prompt_secs("vm-reenterpassword") + 0.5)
        owner.press("1357#")
        owner.drain(prompt_secs("vm-passchanged") + 0.5)
        record_by_phone(owner, "3", "vm-rec-name")  # back in the mailbox options after the PIN change
        record_by_phone(owner, "2", "vm-rec-busy")
        record_by_phone(owner, "61", "vm-rec-ann-a")
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED", secs=15)
        # The next login: the old PIN is wrong now, the new one opens the mailbox.
        seen = len(owner.events)
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.press("2580#")
        owner.drain(prompt_secs("vm-incorrect", "vm-password") + 0.5)
        owner.press("1357#")
        owner.drain(2.0)
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED", secs=15, since=seen)
    finally:
        owner.stop()
    log = own_lines(p.log.read_text())
    assert "PIN changed by phone" in log
    logins = [line for line in log.splitlines() if "mailbox login" in line and "mailbox=101" in line]
    assert [("ok=true" in line) for line in logins] == [True, False, True], logins
    greetings = p.data / "voicemail" / "101" / "greetings"
    for kind in ("name", "busy", "announcement-a"):
        (freq, share), level = tone_of(greetings / f"{kind}.wav")
        assert abs(freq - 440) <= 10 and share > 0.6 and level > 2000, (kind, freq, share, level)
    # Announcement A is recorded but not chosen: a caller hears the standard greeting, which (with no
    # unavailable greeting) is the system greeting with the owner's recorded name, the 440 Hz tone.
    wait_for(lambda: not any(r["extension"] == "101" for r in p.status()["registrations"]), what="unregistration")
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 1000)
    try:
        wait_for(lambda: any(r["extension"] == "100" for r in p.status()["registrations"]), what="caller")
        caller.dial(f"sip:101@127.0.0.1:{p.sip_port}")
        caller.drain(4.0)
        caller.send("hangup")
        caller.wait_event("CALL_CLOSED", secs=15)
    finally:
        caller.stop()
    heard = caller.recordings("dec")[-1]
    assert find_tone(heard, 440), "the caller hears the owner's recorded name"


def test_always_prompt_off_opens_the_own_mailbox_without_the_pin_and_on_asks_for_it(parley_factory, tmp_path):
    """Callisto's "Always prompt": off, *97 from the owner's own phone opens the mailbox at once (0 3
    records the name without a PIN typed); on again, the same keys only reach the PIN prompt."""
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    p.cli("mailbox", "set", "101", "--always-prompt", "off")
    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440,
                    tone_secs=120)

    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}", settle=2.0)
        record_by_phone(owner, "03", "vm-rec-name")
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED", secs=15)
        p.cli("mailbox", "set", "101", "--always-prompt", "on")
        seen = len(owner.events)
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}", settle=2.0)
        record_by_phone(owner, "02", "vm-rec-busy")
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED", secs=15, since=seen)
    finally:
        owner.stop()
    greetings = p.data / "voicemail" / "101" / "greetings"
    (freq, share), level = tone_of(greetings / "name.wav")
    assert abs(freq - 440) <= 10 and share > 0.6 and level > 2000, (freq, share, level)
    assert not (greetings / "busy.wav").exists(), "with Always prompt on, the keys went to the PIN prompt"
    log = own_lines(p.log.read_text())
    assert "mailbox login mailbox=101 ok=false" in log
    assert "mailbox login mailbox=101 ok=true" not in log


def test_a_caller_skips_the_greeting_listens_to_the_take_records_again_and_keeps_the_second(
        parley_factory, tmp_path):
    """Seed 001 after recording a message: # skips the greeting, # ends the recording, 2 plays it back
    (the caller hears its own 600 Hz tone, not the 1000 Hz beep), 3 records again, 1 keeps the second take only."""
    p = start(parley_factory)
    caller = Baresip(tmp_path, "caller", p.sip_port + 12, p.sip_port + 15, p.sip_port, "100", "secret100", 600,
                     tone_secs=120)
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        caller.dial(f"sip:101@127.0.0.1:{p.sip_port}", settle=0.5)
        caller.press("#")  # skip the greeting: the beep follows at once
        caller.drain(prompt_secs("beep") + 3.0)
        caller.press("#")  # end the first take (3 s)
        caller.drain(prompt_secs("vm-review") + 0.5)
        caller.press("2")  # listen again
        caller.drain(3.5)
        caller.press("3")  # record again: about 1.5 s this time
        caller.drain(prompt_secs("beep") + 1.5)
        caller.press("#")
        caller.drain(prompt_secs("vm-review") + 0.5)
        caller.press("1")
        caller.drain(prompt_secs("vm-msgsaved", "vm-goodbye") + 1.0)
        caller.wait_event("CALL_CLOSED", secs=15)
    finally:
        caller.stop()
    heard = caller.recordings("dec")[-1]
    assert find_tone(heard, 600), "the take was played back to the caller"
    msgs = wait_for(lambda: messages(p, "101"), what="the message")
    assert len(msgs) == 1, msgs
    assert 800 <= msgs[0]["duration_ms"] <= 2600, msgs[0]["duration_ms"]
    (freq, share), level = tone_of(message_file(p, msgs[0]))
    assert abs(freq - 600) <= 10 and share > 0.6, (freq, share)


def test_main_menu_two_changes_to_the_old_folder_where_a_message_read_on_arrival_plays(
        parley_factory, sipp, tmp_path):
    """Seed 001's main menu 2 (change folder) by a real phone: a message stored as read (1000 Hz) is in
    Old, a later one (600 Hz) in New; 2 1 opens Old and 1 then plays the old one, not the new one."""
    p = start(parley_factory)
    p.cli("user", "set", "101", "--pin", "2580")
    p.cli("mailbox", "set", "101", "--mark-read", "on")
    deposit(p, sipp, tmp_path, freq=1000, hold=14000).assert_ok()  # the system greeting, then ~6 s
    wait_for(lambda: messages(p, "101"), what="the first message")
    p.cli("mailbox", "set", "101", "--mark-read", "off")
    deposit(p, sipp, tmp_path, freq=600, hold=14000, port=20).assert_ok()
    msgs = wait_for(lambda: len(messages(p, "101")) == 2 and messages(p, "101"), what="the second message")
    assert [m["folder"] for m in msgs] == ["old", "new"]
    owner = Baresip(tmp_path, "owner", p.sip_port + 6, p.sip_port + 9, p.sip_port, "101", "secret101", 440,
                    tone_secs=120)
    try:
        wait_for(lambda: p.status()["registrations"], what="registration")
        owner.dial(f"sip:*97@127.0.0.1:{p.sip_port}")
        owner.press("2580#")
        owner.drain(3.0)  # the counts start
        owner.press("2")  # change folder
        owner.drain(2.0)
        owner.press("1")  # Old: "you have one old message"
        owner.drain(3.0)
        owner.press("1")  # listen: the envelope, then the message
        owner.drain(14.0)
        owner.send("hangup")
        owner.wait_event("CALL_CLOSED", secs=15)
    finally:
        owner.stop()
    heard = owner.recordings("dec")[-1]
    # The 1000 Hz beep of a prompt lasts 0.25 s; the old message holds its tone for seconds.
    assert len(find_tone(heard, 1000)) >= 4, find_tone(heard, 1000)
    assert not find_tone(heard, 600), "the new message was not played"
