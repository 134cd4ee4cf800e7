"""The Conference Center (Allworx, "Joining a Conference") with real phones: baresips dial 4081, key the
Conference ID and password, and talk in one room. Each phone's recording holds the others' tones and not
its own (N−1), the ding of an arrival and the dong of a departure; wrong IDs and passwords are refused
aloud, end the call after three and lock the conference; a full conference refuses the next caller with a
prompt; a continuous tone reaches another participant without gaps."""
import time

import pytest

from peers import Baresip, read_wav
from test_portal import browser  # noqa: F401 (fixture)
from vmhelp import own_lines, prompt_match, shows_number, wait_for

TONES = {"100": 400, "101": 1200, "102": 1800}
DING, DONG = 880, 660


def start(parley_factory, users=("100", "101", "102", "103"), **config):
    p = parley_factory(**config)
    for ext in users:
        p.add_user(ext, f"secret{ext}")
    p.start()
    return p


def phone(p, tmp_path, ext, n, tone, **kw):
    return Baresip(tmp_path, ext, p.sip_port + 6 * n, p.sip_port + 6 * n + 3, p.sip_port, ext,
                   f"secret{ext}", tone, **kw)


def registered(p, exts):
    wait_for(lambda: {r["extension"] for r in p.status()["registrations"]} >= set(exts), what="registrations")


def in_room(p, n, room="480"):
    rooms = [c for c in p.status()["conferences"] if c["id"] == room]
    return rooms and len(rooms[0]["participants"]) == n


def join(p, ph, keys="480#480#"):
    ph.dial(f"sip:4081@127.0.0.1:{p.sip_port}", settle=0.5)
    ph.press(keys, gap=0.25)


def power(samples, freq, rate=8000):
    import math
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + k * s1 - s2
        s2, s1 = s1, s0
    return 2 * (s1 * s1 + s2 * s2 - k * s1 * s2) / max(1, len(samples)) ** 2


def windows(path, secs=0.2):
    samples, rate = read_wav(path)
    n = int(rate * secs)
    return [samples[i:i + n] for i in range(0, len(samples) - n + 1, n)]


def clusters(indices):
    """Runs of consecutive window indices."""
    runs = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def test_three_phones_hear_each_other_never_themselves_and_a_fourth_is_dinged_in_and_donged_out(
        parley_factory, tmp_path):
    p = start(parley_factory)
    phones = {ext: phone(p, tmp_path, ext, i + 1, hz, tone_secs=90, tone_vol=0.25)
              for i, (ext, hz) in enumerate(TONES.items())}
    late = phone(p, tmp_path, "103", 4, 0, tone_secs=90)
    try:
        registered(p, ["100", "101", "102", "103"])
        for ph in phones.values():
            join(p, ph)
        wait_for(lambda: in_room(p, 3), what="three in conference 480")
        time.sleep(8)  # "You will now be placed into the conference" said, then all talk together
        join(p, late)
        wait_for(lambda: in_room(p, 4), what="the fourth in")
        time.sleep(6)
        late.send("hangup")
        late.wait_event("CALL_CLOSED")
        wait_for(lambda: in_room(p, 3), what="the fourth gone")
        time.sleep(2)
        for ph in phones.values():
            ph.send("hangup")
        for ph in phones.values():
            ph.wait_event("CALL_CLOSED")
    finally:
        for ph in [*phones.values(), late]:
            ph.stop()
    wait_for(lambda: p.status()["conferences"] == [], what="the room closed")
    for ext, ph in phones.items():
        own = TONES[ext]
        others = [hz for e, hz in TONES.items() if e != ext]
        ws = windows(ph.recordings("dec")[-1])
        # The conference's part: both others' tones loud in the window.
        mixed_at = {i for i, w in enumerate(ws) if all(power(w, hz) > 1e6 for hz in others)}
        mixed = [ws[i] for i in sorted(mixed_at)]
        assert len(mixed) >= 40, f"{ext}: {len(mixed)} windows of the others' tones (8 s expected)"
        worst = max(power(w, own) / min(power(w, hz) for hz in others) for w in mixed)
        # Its own tone would be as loud as the others; what is there is µ-law distortion of theirs
        # (1200 Hz's 7th harmonic folds onto 400 Hz at 8 kHz), 20 dB and more below.
        assert worst < 1e-2, f"{ext} heard its own {own} Hz tone (ratio {worst})"
        # The ding when 103 came in, then the dong when it left, over the others' tones (the prompts
        # before are left out: speech has energy at any frequency).
        ding = [i for i, w in enumerate(ws) if i in mixed_at and power(w, DING) > 1e5]
        dong = [i for i, w in enumerate(ws) if i in mixed_at and power(w, DONG) > 1e5]
        # One ding per arrival heard with both others there: 102's (heard by 100 and 101), then
        # 103's; one dong, after the last ding. Each chime lasts 400 ms, not one per packet.
        arrivals = clusters(ding)
        assert len(arrivals) == (1 if ext == "102" else 2), (ext, ding)
        assert len(clusters(dong)) == 1 and dong[0] > ding[-1], (ext, ding, dong)
        assert all(len(c) <= 3 for c in arrivals + clusters(dong)), (ext, ding, dong)
    # 103 heard all three tones, and no ding for its own arrival.
    ws = windows(late.recordings("dec")[-1])
    heard = [w for w in ws if all(power(w, hz) > 1e6 for hz in TONES.values())]
    assert len(heard) >= 15, f"103 heard all three tones in {len(heard)} windows"
    assert not [w for w in heard if power(w, DING) > 1e5]


def test_wrong_id_and_passwords_are_refused_aloud_end_the_call_and_lock_the_caller_out(
        parley_factory, tmp_path):
    p = start(parley_factory, pin_max_failures=4)
    ph = phone(p, tmp_path, "100", 1, 0)
    try:
        registered(p, ["100"])
        # A wrong ID, then the right ID with two wrong passwords: three wrong entries end the call.
        ph.dial(f"sip:4081@127.0.0.1:{p.sip_port}", settle=0.5)
        ph.press("999#", gap=0.25)
        ph.drain(4.5)
        ph.press("480#", gap=0.25)
        ph.drain(4.5)
        ph.press("111#", gap=0.25)
        ph.drain(4.5)
        ph.press("222#", gap=0.25)
        ph.wait_event("CALL_CLOSED", secs=20)
        first = ph.recordings("dec")[-1]
        assert prompt_match(first, "conf-invalid") > 0.8
        assert prompt_match(first, "conf-invalidpin", "vm-goodbye") > 0.8
        # A fourth wrong entry, in a second call, locks this caller out (four: this Parley's
        # setting); the next entry is refused aloud and the call ends.
        ph.events.clear()
        join(p, ph, "480#333#")
        ph.drain(4.5)
        locks = [lk["what"] for lk in p.status()["lockouts"]]
        assert "Conference Center entries from 127.0.0.1" in locks, locks
        ph.press("444#", gap=0.25)
        ph.wait_event("CALL_CLOSED", secs=20)
        assert prompt_match(ph.recordings("dec")[-1], "conf-locked", "vm-goodbye") > 0.8
        # A new call: even the right ID and password are refused, aloud.
        ph.events.clear()
        join(p, ph)
        ph.wait_event("CALL_CLOSED", secs=20)
        assert prompt_match(ph.recordings("dec")[-1], "conf-locked", "vm-goodbye") > 0.8
        assert p.status()["conferences"] == []
    finally:
        ph.stop()
    log = p.log.read_text()
    assert "Conference Center entries from an address locked" in log
    own = own_lines(log)  # the SIP stack's raw messages hold random digits; Parley's own lines must not
    for secret in ("111", "222", "333", "444"):  # hold a password entered
        assert not shows_number(own, secret), secret


def test_a_full_conference_refuses_the_next_caller_with_a_prompt(parley_factory, tmp_path):
    p = start(parley_factory, conference_seats=1)
    first = phone(p, tmp_path, "100", 1, 400)
    second = phone(p, tmp_path, "101", 2, 0)
    try:
        registered(p, ["100", "101"])
        join(p, first)
        wait_for(lambda: in_room(p, 1), what="the first in")
        join(p, second)
        second.wait_event("CALL_CLOSED", secs=20)
        assert prompt_match(second.recordings("dec")[-1], "conf-full", "vm-goodbye") > 0.8
        assert in_room(p, 1)
    finally:
        first.stop()
        second.stop()


@pytest.mark.alone
def test_a_continuous_tone_reaches_another_participant_without_a_gap_over_a_minute(
        parley_factory, tmp_path):
    p = start(parley_factory)
    talker = phone(p, tmp_path, "100", 1, 1000, tone_secs=120, tone_vol=0.3)
    listener = phone(p, tmp_path, "101", 2, 0, tone_secs=120)
    try:
        registered(p, ["100", "101"])
        join(p, talker)
        join(p, listener)
        wait_for(lambda: in_room(p, 2), what="both in")
        time.sleep(66)
        listener.send("hangup")
        listener.wait_event("CALL_CLOSED")
        talker.send("hangup")
    finally:
        talker.stop()
        listener.stop()
    samples, rate = read_wav(listener.recordings("dec")[-1])
    # Where the tone starts: the first 20 ms frame from which a whole second is the 1 kHz tone (the
    # prompts before it are speech).
    n = rate // 50
    tonal = [power(samples[i:i + n], 1000) > 0.4 * sum(x * x for x in samples[i:i + n]) / n
             for i in range(0, len(samples) - n, n)]
    first = next(i for i in range(len(tonal) - 50) if all(tonal[i:i + 50]))
    # 5 ms frames from there: loud while the tone is heard (a 1 kHz sine peaks every millisecond).
    frame = rate // 200
    loud = [max(abs(x) for x in samples[i:i + frame]) > 2000
            for i in range(first * n, len(samples) - frame, frame)]
    start_at = 0
    end_at = len(loud) - 1 - loud[::-1].index(True)
    assert (end_at - start_at) * 5 >= 60_000, f"the tone was heard {(end_at - start_at) * 5} ms"
    longest = run = gap_at = 0
    for k, x in enumerate(loud[start_at:end_at]):
        run = 0 if x else run + 1
        if run > longest:
            longest, gap_at = run, k - run + 1
    # Should it fail: whether the talker itself sent a hole (its own encoder's recording), or the
    # hole came on the way (its packets late beyond what the room's jitter buffer conceals, or the room).
    sent, _ = read_wav(talker.recordings("enc")[-1])
    sent_loud = [max(abs(x) for x in sent[i:i + frame]) > 2000 for i in range(0, len(sent) - frame, frame)]
    sent_run = sent_longest = 0
    for x in sent_loud[sent_loud.index(True):len(sent_loud) - sent_loud[::-1].index(True)]:
        sent_run = 0 if x else sent_run + 1
        sent_longest = max(sent_longest, sent_run)
    assert longest * 5 <= 40, (f"a gap of {longest * 5} ms in the tone, {gap_at * 5} ms into it; the longest "
                               f"gap in what the talker sent: {sent_longest * 5} ms")


def test_a_conference_scheduled_over_the_api_is_joined_shown_live_and_its_participants_disconnected(
        parley_factory, sipp, tmp_path):
    import datetime

    from test_json_api import call as api
    from vmhelp import inband_dtmf

    p = start(parley_factory, conference_rooms=1)
    creator, moderator = ("100", "secret100"), ("101", "secret101")
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    new = {"description": "Feature Team Meeting", "date": t.strftime("%Y-%m-%d"), "time": t.strftime("%H:%M"),
           "time_zone": "UTC", "duration_minutes": 30, "moderators": ["101"]}
    # Creating needs the administrator's permission.
    st, body, _ = api(p, "POST", "/api/v1/conferences", new, auth=creator)
    assert st == 403, body
    p.cli("user", "set", "100", "--privilege", "conferences")
    st, c, _ = api(p, "POST", "/api/v1/conferences", new, auth=creator)
    assert st == 201, c
    assert c["state"] == "Active" and c["creator"] == "100" and c["moderators"] == ["101"]
    assert len(c["id"]) == 6 and len(c["password"]) == 6 and c["conflicts"] == []
    # A second one at the same time shows the first as a conflict; with one room, the day's free
    # times leave out the time they share.
    st, c2, _ = api(p, "POST", "/api/v1/conferences", {**new, "description": "Sales Conference",
                                                          "moderators": []}, auth=creator)
    assert st == 201 and [x["id"] for x in c2["conflicts"]] == [c["id"]], c2
    st, free, _ = api(p, "GET", f"/api/v1/conference-availability?date={new['date']}&time_zone=UTC",
                      auth=creator)
    assert st == 200 and new["time"] not in " ".join(f.split("-")[0] for f in free["free"]), free
    # Bad input is refused naming the field.
    for bad, field in (({**new, "time_zone": "Mars/Olympus"}, "time_zone"), ({**new, "repeat_days": 3}, "repeat_days"),
                       ({**new, "date": "2026-02-30"}, "date"), ({**new, "moderators": ["999"]}, "moderators")):
        st, body, _ = api(p, "POST", "/api/v1/conferences", bad, auth=creator)
        assert st == 400 and body["field"] == field, (bad, body)
    # Two callers join with in-band keys (SIPp streams them).
    keys = f"{c['id']}#{c['password']}#"
    attendees = []
    for n, ext in enumerate(("102", "103")):
        wav = inband_dtmf(tmp_path / f"keys-{ext}.wav", keys, lead=1.5, tail=25)
        attendees.append(sipp(p, "uac_conference.xml", port=p.sip_port + 10 + 10 * n, user=ext,
                              password=f"secret{ext}", service="4081",
                              subst={"caller": ext, "wav": wav, "te": "", "wait": 28000}))
    path = f"/api/v1/conferences/{c['id']}"

    def participants():
        st, body, _ = api(p, "GET", path + "/participants", auth=moderator)
        assert st == 200, body
        return body

    live = wait_for(lambda: len(participants()) == 2 and participants(), secs=20, what="two participants")
    assert sorted(x["caller"] for x in live) == ["102", "103"]
    # An attendee is no manager: the conference does not exist for it.
    assert api(p, "GET", path, auth=("102", "secret102"))[0] == 404
    st, mine, _ = api(p, "GET", "/api/v1/conferences", auth=("103", "secret103"))
    assert st == 200 and mine == []
    time.sleep(2)  # they talk a moment
    # The Moderator disconnects 102: its call ends (SIPp receives the BYE).
    first = next(x for x in live if x["caller"] == "102")
    assert api(p, "DELETE", f"{path}/participants/{first['call']}", auth=moderator)[0] == 204
    attendees[0].assert_ok(timeout=20)
    assert [x["caller"] for x in participants()] == ["103"]
    assert api(p, "DELETE", f"{path}/participants/{first['call']}", auth=moderator)[0] == 404
    # The Creator ends the conference: 103's call ends too.
    st, ended, _ = api(p, "POST", path + "/end", auth=creator)
    assert st == 200 and ended["participants"] == 1
    attendees[1].assert_ok(timeout=20)
    # The statistics: one session, both attendees with their times.
    def sessions():
        st, body, _ = api(p, "GET", path + "/sessions", auth=creator)
        return st == 200 and len(body) == 1 and len(body[0]["attendees"]) == 2 and body
    stats = wait_for(sessions, what="the session's statistics")
    for a in stats[0]["attendees"]:
        assert a["left_at"] >= a["joined_at"] >= stats[0]["started_at"], a
        assert a["seconds"] == a["left_at"] - a["joined_at"] >= 1, a
    # Canceled, it is no longer joinable, and it shows as Canceled.
    st, canceled, _ = api(p, "POST", path + "/cancel", auth=moderator)
    assert st == 200 and canceled["state"] == "Canceled"
    audit = p.cli("audit").stdout
    assert "conference.add" in audit and "conference.disconnect" in audit and "conference.end" in audit


def join_by_sipp(p, sipp, tmp_path, ext, keys, port):
    """A SIPp attendee keying `keys` in-band, staying until Parley ends its call."""
    from vmhelp import inband_dtmf
    wav = inband_dtmf(tmp_path / f"keys-{ext}.wav", keys, lead=1.5, tail=25)
    return sipp(p, "uac_conference.xml", port=p.sip_port + port, user=ext, password=f"secret{ext}",
                service="4081", subst={"caller": ext, "wav": wav, "te": "", "wait": 28000})


def test_my_conferences_in_chromium_add_see_a_conflict_watch_it_live_and_disconnect_a_caller(
        parley_factory, sipp, browser, tmp_path):
    import datetime

    from playwright.sync_api import expect
    from test_portal import SIZES, assert_fits, login, shot

    p = start(parley_factory, conference_rooms=1)
    p.cli("user", "set", "100", "--privilege", "conferences")
    base = f"http://127.0.0.1:{p.http_port}"
    page = browser.new_page(viewport=SIZES["desktop"])
    login(page, base, "100", "secret100")
    page.goto(base + "/phone")
    expect(page.locator("#codes-h + table")).to_contain_text("4081")
    expect(page.locator("#codes-h + table")).to_contain_text("The Conference Center")
    page.goto(base + "/conferences")
    expect(page.locator("#none")).to_have_text("You are not the creator or moderator of any conferences.")
    expect(page.locator("#available li").first).to_have_text("00:00-24:00")
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)

    def add(description):
        page.goto(base + "/conferences")
        form = page.locator("#add-conference")
        form.get_by_label("Conference description").fill(description)
        form.get_by_label("Date").fill(t.strftime("%Y-%m-%d"))
        form.get_by_label("Time", exact=True).fill(t.strftime("%H:%M"))
        form.get_by_label("Time zone").fill("UTC")
        form.get_by_label("Duration (minutes)").fill("30")
        form.get_by_role("button", name="Add Conference").click()
        page.wait_for_url("**/conferences/*")
        notice = page.locator("p.notice").inner_text()
        cid, pw = page.locator("#conf-id").inner_text(), page.locator("#conf-password").inner_text()
        assert f"Conference ID {cid}, password {pw}." in notice, notice
        return cid, pw, notice

    cid, pw, _ = add("Feature Team Meeting")
    expect(page.locator("#conf-state")).to_have_text("Active")
    # A second one at the same time: its conflict with the first is shown.
    other, _, notice = add("Sales Conference")
    assert f"Conflicting conferences: {cid} Feature Team Meeting" in notice, notice
    expect(page.locator("#conflicts")).to_contain_text(cid)
    # The list shows both with their IDs and passwords; the day's free time leaves out theirs.
    page.goto(base + "/conferences")
    expect(page.locator(f"#conferences tr[data-id='{cid}'] td.password")).to_have_text(pw)
    expect(page.locator(f"#conferences tr[data-id='{other}'] td.state")).to_have_text("Active")
    assert page.locator("#available li").first.inner_text().endswith(t.strftime("%H:%M")), \
        page.locator("#available").inner_text()
    # Two callers join the first; the live view shows them.
    a = join_by_sipp(p, sipp, tmp_path, "102", f"{cid}#{pw}#", 10)
    b = join_by_sipp(p, sipp, tmp_path, "103", f"{cid}#{pw}#", 20)

    def rows():
        page.goto(f"{base}/conferences/{cid}")
        return page.locator("#participants tbody tr").count() == 2

    wait_for(rows, secs=20, what="two participants on the page")
    shot(page, "my-conference-live", "desktop")
    page.set_viewport_size(SIZES["phone"])
    assert_fits(page)
    shot(page, "my-conference-live", "phone")
    page.set_viewport_size(SIZES["desktop"])
    # Disconnect 102: its call ends.
    page.get_by_role("button", name="Disconnect 102").click()
    expect(page.locator("p.notice")).to_have_text("Participant disconnected.")
    a.assert_ok(timeout=20)
    expect(page.locator("#participants tbody tr")).to_have_count(1)
    page.get_by_role("button", name="End the conference").click()
    expect(page.locator("p.notice")).to_have_text("Conference ended (1 participants).")
    b.assert_ok(timeout=20)
    wait_for(lambda: page.goto(f"{base}/conferences/{cid}") and page.locator("#sessions tbody tr").count() == 2,
             what="the session's statistics")


def test_a_stranger_spraying_the_rtp_range_is_neither_heard_in_a_conference_nor_hears_it(
        parley_factory, tmp_path):
    from test_attacks import Stranger, stranger_share

    p = start(parley_factory)
    a = phone(p, tmp_path, "100", 1, 440)
    b = phone(p, tmp_path, "101", 2, 1000)
    stranger = None
    try:
        registered(p, ["100", "101"])
        # The stranger sprays before the callers arrive and all through the conference, with the
        # password of another conference as keys.
        stranger = Stranger(p.rtp, keys="481#481#").start()
        join(p, a)
        join(p, b)
        wait_for(lambda: in_room(p, 2), what="both in")
        time.sleep(8)
        vm = p.status()["voicemail"]
        assert all(v["packets_from_strangers"] > 100 for v in vm), vm
        for ph in (a, b):
            ph.send("hangup")
            ph.wait_event("CALL_CLOSED")
    finally:
        if stranger:
            stranger.stop()
        a.stop()
        b.stop()
    assert stranger.sent > 10000
    assert stranger.received == 0, "Parley sent conference audio to a stranger"
    # Each hears the other's tone, and nothing of the stranger's.
    fa, share_a, leak_a = stranger_share(a.recordings("dec")[-1])
    fb, share_b, leak_b = stranger_share(b.recordings("dec")[-1])
    assert abs(fa - 1000) <= 10 and leak_a < 0.01, (fa, share_a, leak_a)
    assert abs(fb - 440) <= 10 and leak_b < 0.01, (fb, share_b, leak_b)


def test_the_administrator_disables_an_unscheduled_conference_and_makes_a_user_its_moderator(parley_factory):
    from test_json_api import call as api

    p = start(parley_factory)
    p.cli("user", "set", "100", "--privilege", "admin")
    admin, user = ("100", "secret100"), ("101", "secret101")
    st, every, _ = api(p, "GET", "/api/v1/conferences", auth=admin)
    assert st == 200 and [c["id"] for c in every] == ["480", "481", "482", "483"], every
    assert all(c["creator"] is None and c["state"] == "Enabled" and c["password"] == c["id"] for c in every)
    assert api(p, "GET", "/api/v1/conferences", auth=user)[1] == []
    st, c, _ = api(p, "PATCH", "/api/v1/conferences/481",
                   {"enabled": False, "password": "97531", "moderators": ["101"]}, auth=admin)
    assert st == 200 and (c["state"], c["password"], c["moderators"]) == ("Disabled", "97531", ["101"]), c
    assert [x["id"] for x in api(p, "GET", "/api/v1/conferences", auth=user)[1]] == ["481"]
    # A Moderator ends and watches it, but its settings are the administrator's.
    assert api(p, "PATCH", "/api/v1/conferences/481", {"enabled": True}, auth=user)[0] == 403
    st, body, _ = api(p, "PATCH", "/api/v1/conferences/481", {"moderators": ["999"]}, auth=admin)
    assert st == 400 and body["field"] == "moderators", body
    st, body, _ = api(p, "PATCH", "/api/v1/conferences/481", {"password": "12ab"}, auth=admin)
    assert st == 400 and body["field"] == "password", body
    assert api(p, "PATCH", "/api/v1/conferences/999", {"enabled": True}, auth=admin)[0] == 400
