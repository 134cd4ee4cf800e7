"""Parley on PostgreSQL, where SQLite cannot go: two Parley processes sharing one database (and, while
audio is kept in files, one data directory) take deposits at the same time; every message gets its own
number and every email is sent once, by one of them. Runs only with PARLEY_TEST_POSTGRES (scripts/test
starts a throw-away server for it)."""
import re
import time

import pytest

from conftest import POSTGRES, next_ports
from test_notify import SmtpSink, peers  # noqa: F401 (a fixture)
from test_voicemail import deposit, start, wait_for
from vmhelp import message_file, messages, tone_of

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
