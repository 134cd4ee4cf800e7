"""Parley on PostgreSQL, where SQLite cannot go: two Parley processes sharing one database take
deposits at the same time; every message gets its own number and every email is sent once, by one of
them. With the audio in the database (the default there) two nodes share nothing else: a message
left through one is heard through the other, and a node lost with its disk mid-recording loses only
the last second of it. A populated SQLite installation moved up with
`parley db copy` serves the same mailboxes, greetings and settings. A database server that stops while
callers are in voicemail loses nothing: their messages arrive when it is back. Runs only with
PARLEY_TEST_POSTGRES (scripts/test starts a throw-away server for it)."""
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import POSTGRES, ROOT, new_database, next_ports
from test_json_api import call, wav_bytes
from test_notify import SmtpSink, peers  # noqa: F401 (a fixture)
from test_voicemail import deposit, start, wait_for
from vmhelp import message_file, messages, pcm_tone, tone_of

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES, reason="needs PARLEY_TEST_POSTGRES (a PostgreSQL server)")]


def test_two_nodes_on_one_database_number_messages_apart_and_send_each_email_once(
        parley_factory, peers, sipp, tmp_path):
    smtp = peers(SmtpSink, next_ports()).start()
    mail = {"smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            "email": {"subject": "Voicemail {{message_id}} for {{mailbox}}"}}
    a = start(parley_factory, node="a", **mail)
    a.cli("user", "set", "101", "--email", "bob@example.com")
    a.cli("mailbox", "set", "101", "--forward-email", "on")
    b = parley_factory(node="b", database=a.database, data=a.data, **mail).start()
    # Four callers through each node at once.
    calls = [deposit(a, sipp, tmp_path, hold=10000, m=4, freq=440),
             deposit(b, sipp, tmp_path, hold=10000, m=4, freq=880, port=12)]
    for c in calls:
        c.assert_ok()
    msgs = wait_for(lambda: len(messages(a, "101")) >= 8 and messages(a, "101"), secs=15, what="8 messages")
    assert len(msgs) == 8, msgs
    assert len({m["id"] for m in msgs}) == 8
    # Each recording holds its own caller's audio (440 Hz through a, 880 Hz through b).
    freqs = sorted(round(tone_of(message_file(a, m))[0][0] / 10) * 10 for m in msgs)
    assert freqs == [440] * 4 + [880] * 4, freqs
    # Each message is emailed once, whichever node claims it.
    got = wait_for(lambda: len(smtp.messages()) >= 8 and smtp.messages(), secs=20, what="8 emails")
    time.sleep(3)
    subjects = sorted(m["Subject"] for m in smtp.messages())
    assert subjects == sorted(f"Voicemail {m['id']} for 101" for m in msgs), subjects
    assert len(got) == 8
    # Both nodes took part (the claims spread when both are polling), and the log says which node
    # recorded what.
    sent = [len(re.findall(r"notification delivered", p.log.read_text())) for p in (a, b)]
    assert sum(sent) == 8, sent


def test_nodes_sharing_only_the_database_share_the_audio_and_one_lost_mid_recording_loses_a_second(
        parley_factory, sipp, tmp_path):
    a = start(parley_factory, node="a")
    b = parley_factory(node="b", database=a.database, node_name="pbx-b").start()
    assert a.data != b.data
    bob = ("101", "secret101")
    # A message left through b is heard through a.
    deposit(b, sipp, tmp_path, hold=10000, freq=660).assert_ok()
    (m,) = wait_for(lambda: messages(a, "101"), what="the message")
    status, audio, _ = call(a, "GET", f"/api/v1/mailboxes/101/messages/{m['id']}/audio", auth=bob)
    assert status == 200
    (tmp_path / "via-a.wav").write_bytes(audio)
    (freq, share), _ = tone_of(tmp_path / "via-a.wav")
    assert abs(freq - 660) <= 10 and share > 0.8, (freq, share)
    # A greeting uploaded to a is b's too.
    greeting = wav_bytes(pcm_tone(tmp_path / "g.wav", 600, 1.5))
    status, _, _ = call(a, "PUT", "/api/v1/mailboxes/101/greetings/busy", raw=greeting, auth=bob,
                        headers={"Content-Type": "audio/wav"})
    assert status == 200
    via_a, via_b = (call(p, "GET", "/api/v1/mailboxes/101/greetings/busy", auth=bob) for p in (a, b))
    assert via_b[0] == 200 and via_b[1] == via_a[1]
    # Neither data directory holds a recording: the database has them all.
    assert not [f for p in (a, b) for f in p.data.rglob("*.wav")]
    # b dies with its disk 4.5 s into a recording; b's replacement (same node name, a new disk)
    # finds at its start what b had copied into the database, up to its last whole second.
    caller = deposit(b, sipp, tmp_path, hold=30000, freq=440, port=16)
    wait_for(lambda: sum(v["recording"] for v in b.status()["voicemail"]) == 1, secs=20, what="recording")
    time.sleep(4.5)
    b.proc.kill()
    b.proc.wait()
    caller.proc.kill()
    shutil.rmtree(b.data)
    b.start()
    msgs = wait_for(lambda: len(messages(a, "101")) == 2 and messages(a, "101"), what="the recovered message")
    cut = msgs[1]
    assert 3000 <= cut["duration_ms"] <= 5000, cut
    (freq, share), _ = tone_of(message_file(a, cut))
    assert abs(freq - 440) <= 10 and share > 0.8, (freq, share)
    assert "recovered a message" in b.log.read_text()


def test_db_copy_moves_a_sqlite_installation_up_and_it_serves_the_same(parley_factory, sipp, tmp_path):
    old = start(parley_factory, node="old", database=False)
    assert not old.database and (old.data / "parley.db").exists()
    bob = ("101", "secret101")
    deposit(old, sipp, tmp_path, hold=10000, freq=660).assert_ok()
    wait_for(lambda: messages(old, "101"), what="the message")
    greeting = wav_bytes(pcm_tone(tmp_path / "g.wav", 600, 1.5))
    status, _, _ = call(old, "PUT", "/api/v1/mailboxes/101/greetings/busy", raw=greeting, auth=bob,
                        headers={"Content-Type": "audio/wav"})
    assert status == 200
    choice = {"active": "b", "recording": {"standard": True, "a": False, "b": True, "c": False}}
    call(old, "PUT", "/api/v1/mailboxes/101/greetings/announcement-b", raw=greeting, auth=bob,
         headers={"Content-Type": "audio/wav"})
    status, _, _ = call(old, "PUT", "/api/v1/mailboxes/101/announcements", choice, auth=bob)
    assert status == 200

    def seen(p):
        return {path: call(p, "GET", path, auth=bob)[1] for path in [
            "/api/v1/me", "/api/v1/mailboxes/101/messages", "/api/v1/mailboxes/101/greetings",
            "/api/v1/mailboxes/101/greetings/busy", "/api/v1/mailboxes/101/announcements"]}

    before = seen(old)
    assert before["/api/v1/mailboxes/101/messages"]["total"] == 1 and before["/api/v1/mailboxes/101/greetings/busy"]
    mid = before["/api/v1/mailboxes/101/messages"]["items"][0]["id"]
    audio = call(old, "GET", f"/api/v1/mailboxes/101/messages/{mid}/audio", auth=bob)[1]
    assert old.stop() == 0

    url = new_database(f"parley_copy_{old.sip_port}_{time.time_ns() % 10**9}")
    out = old.cli("db", "copy", "--from", f"sqlite:{old.data}", "--to", url).stdout
    assert re.search(r"^messages\s+1$", out, re.M) and re.search(r"^users\s+3$", out, re.M), out
    assert "postgres://postgres@" in out
    # Into a database that is no longer empty: refused, and it says why.
    again = old.cli("db", "copy", "--from", f"sqlite:{old.data}", "--to", url, check=False)
    assert again.returncode != 0 and "not empty" in again.stderr

    new = parley_factory(node="new", database=url, data=old.data).start()
    assert seen(new) == before
    assert call(new, "GET", f"/api/v1/mailboxes/101/messages/{mid}/audio", auth=bob)[1] == audio
    # The SIP password works on the new database (its digest hashes came across), and the next message
    # is numbered after the copied one.
    sipp(new, "register.xml", port=new.sip_port + 4, user="101", password="secret101", service="101",
         keys={"expires": 0}).assert_ok()
    deposit(new, sipp, tmp_path, hold=10000, freq=660).assert_ok()
    ids = [m["id"] for m in wait_for(lambda: len(messages(new, "101")) == 2 and messages(new, "101"),
                                     what="a second message")]
    assert ids[0] == mid and ids[1] > mid
    status = new.cli("db", "status").stdout
    assert "postgres://" in status and re.search(r"^messages\s+2$", status, re.M), status


class OwnServer:
    """A PostgreSQL server of the test's own (scripts/postgres), to stop and start at will."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="parley-pg-")
        self.url = self._run("start")
        self.port = self.url.rsplit(":", 1)[1]

    def _run(self, *args):
        return subprocess.run(["bash", str(ROOT / "scripts" / "postgres"), args[0], self.dir, *args[1:]],
                              check=True, capture_output=True, text=True, timeout=60).stdout.strip()

    def stop(self):
        self._run("stop")

    def start(self):
        self._run("start", self.port)

    def close(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_server():
    server = OwnServer()
    yield server
    server.close()


def test_callers_in_voicemail_while_the_database_stops_lose_nothing(parley_factory, own_server, sipp, tmp_path):
    server = own_server
    subprocess.run(["psql", f"{server.url}/postgres", "-qc", "CREATE DATABASE parley"], check=True,
                   capture_output=True)
    p = start(parley_factory, database=f"{server.url}/parley")
    # One caller is recording (its message's row is written) when a second one reaches the greeting.
    first = deposit(p, sipp, tmp_path, hold=20000, freq=440)
    wait_for(lambda: sum(v["recording"] for v in p.status()["voicemail"]) == 1, secs=15, what="recording")
    second = deposit(p, sipp, tmp_path, hold=16000, freq=880, port=16)
    wait_for(lambda: len(p.status()["voicemail"]) == 2, secs=5, what="the second caller in voicemail")
    server.stop()
    # Both calls go on to the end with their audio, the database away.
    first.assert_ok()
    second.assert_ok()
    assert list((p.data / "voicemail" / ".spool").glob("*/*.wav")), "the second message waits on disk"
    server.start()
    msgs = wait_for(lambda: len(messages(p, "101")) == 2 and messages(p, "101"), secs=40,
                    what="both messages after the database came back")
    tones = sorted(round(tone_of(message_file(p, m))[0][0] / 10) * 10 for m in msgs)
    assert tones == [440, 880], tones
    assert all(m["duration_ms"] >= 4000 for m in msgs), msgs
    assert not list((p.data / "voicemail" / ".spool").glob("*/*.wav"))
    log = p.log.read_text()
    assert "recording into the spool" in log and "stored a message recorded while the database was away" in log
