"""Helpers for voicemail tests: the message store read straight from Parley's database, audio
analysis of recordings, test audio made with sox, and prompt lengths from the bundled prompt set."""
import sqlite3
import subprocess
import time
import wave

from conftest import ROOT, psql
from peers import dominant_frequency, read_wav, rms

PROMPTS = ROOT / "prompts" / "en"


def messages(p, mailbox=None):
    """Finished messages as dicts, oldest first."""
    if p.database:
        where = f" AND mailbox = '{int(mailbox)}'" if mailbox else ""
        return psql(p.database, f"SELECT * FROM messages WHERE state = 'ready'{where} ORDER BY id")
    db = sqlite3.connect(str(p.data / "parley.db"), timeout=10)
    db.row_factory = sqlite3.Row
    q = "SELECT * FROM messages WHERE state = 'ready'"
    args = ()
    if mailbox:
        q += " AND mailbox = ?"
        args = (mailbox,)
    rows = [dict(r) for r in db.execute(q + " ORDER BY id", args)]
    db.close()
    return rows


def message_file(p, m):
    """A message's audio as a WAV file: its file in the data directory, or, with audio kept in the
    database (PostgreSQL's default), written from the rows there (a path that does not exist when the
    database holds none)."""
    if not p.audio_in_database():
        return p.data / "voicemail" / m["mailbox"] / f"{m['id']}.wav"
    assert str(m["mailbox"]).isdigit(), m
    return stored_audio(p, f"message/{m['mailbox']}/{int(m['id'])}")


def stored_audio(p, name):
    """The recording `name` (`message/101/7`, `greeting/101/busy`) of a Parley whose audio is in the
    database, read from its rows into a WAV file of the test's own."""
    out = p.data.parent / "stored-audio" / (name.replace("/", "-") + ".wav")
    out.parent.mkdir(exist_ok=True)
    out.unlink(missing_ok=True)
    rows = psql(p.database, f"SELECT a.samples, (SELECT string_agg(encode(c.pcm, 'hex'), '' ORDER BY c.seq) "
                            f"FROM audio_chunks c WHERE c.name = a.name) AS pcm FROM audio a WHERE a.name = '{name}'")
    if rows:
        pcm = bytes.fromhex(rows[0]["pcm"] or "")[:2 * rows[0]["samples"]]
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm)
    return out


def shows_number(text, digits):
    """Whether `digits` stand in `text` as a number of their own (not inside a port, a time or an id)."""
    import re
    return re.search(rf"(?<![\d.]){digits}(?![\d.])", text) is not None


def own_lines(log):
    """Parley's own log lines (without the SIP stack's raw message dumps)."""
    return "\n".join(line for line in log.splitlines() if "rsipstack" not in line)


def prompt_secs(*ids):
    total = 0.0
    for i in ids:
        with wave.open(str(PROMPTS / f"{i}.wav")) as w:
            total += w.getnframes() / w.getframerate()
    return total


def ulaw_tone(path, freq, seconds, lead_silence=0.0):
    """A µ-law 8 kHz WAV for SIPp's rtp_stream (it sends the file's bytes as they are)."""
    cmd = ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path), "synth", str(seconds), "sine", str(freq),
           "vol", "0.5"]
    if lead_silence:
        cmd += ["pad", str(lead_silence), "0"]
    subprocess.run(cmd, check=True)
    return str(path)


def pcm_tone(path, freq, seconds):
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine",
                    str(freq), "vol", "0.5"], check=True)
    return path


def inband_dtmf(path, keys, lead=1.0, gap=0.12, tone=0.12, tail=20.0):
    """A µ-law WAV with in-band DTMF key presses (after `lead` s of silence), then silence."""
    low = {"1": 697, "2": 697, "3": 697, "4": 770, "5": 770, "6": 770, "7": 852, "8": 852, "9": 852,
           "*": 941, "0": 941, "#": 941}
    high = {"1": 1209, "2": 1336, "3": 1477, "4": 1209, "5": 1336, "6": 1477, "7": 1209, "8": 1336, "9": 1477,
            "*": 1209, "0": 1336, "#": 1477}
    parts = []
    tmp = path.parent
    for n, k in enumerate(keys):
        f = tmp / f"dtmf-{n}.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(f), "synth", str(tone), "sine",
                        str(low[k]), "sine", str(high[k]), "remix", "1,2", "vol", "0.35", "pad", "0", str(gap)],
                       check=True)
        parts.append(str(f))
    lead_f = tmp / "lead.wav"
    tail_f = tmp / "tail.wav"
    for f, secs in ((lead_f, lead), (tail_f, tail)):
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(f), "trim", "0", str(secs)], check=True)
    subprocess.run(["sox", str(lead_f), *parts, str(tail_f), "-e", "u-law", str(path)], check=True)
    return str(path)


def tone_of(path, start=0.0, secs=None):
    samples, rate = read_wav(path)
    a = int(start * rate)
    b = len(samples) if secs is None else a + int(secs * rate)
    part = samples[a:b]
    return dominant_frequency(part, rate), rms(part)


def find_tone(path, freq, window=0.5, min_share=0.6):
    """Seconds of `path` (in `window` steps) where `freq` dominates; [] if never."""
    samples, rate = read_wav(path)
    n = int(window * rate)
    hits = []
    for i in range(0, len(samples) - n, n):
        part = samples[i:i + n]
        if rms(part) < 500:
            continue
        (f, share) = dominant_frequency(part, rate, lo=300, hi=1500, step=20)
        if abs(f - freq) <= 20 and share >= min_share:
            hits.append(i / rate)
    return hits


def first_sound(path, level=500, window=0.1):
    """Time of the first window louder than `level`."""
    samples, rate = read_wav(path)
    n = int(window * rate)
    for i in range(0, len(samples) - n, n):
        if rms(samples[i:i + n]) >= level:
            return i / rate
    return None


def envelope(samples, rate, frame=0.02):
    """Loudness (RMS) per `frame` seconds."""
    n = int(rate * frame)
    return [rms(samples[i:i + n]) for i in range(0, len(samples) - n + 1, n)]


def prompt_match(heard, *ids):
    """How well what a phone recorded (`heard`, a WAV) follows the prompts `ids` played back to back: the
    best Pearson correlation of the two loudness envelopes over every alignment (1.0: the same shape)."""
    expected = []
    for i in ids:
        samples, _ = read_wav(PROMPTS / f"{i}.wav")
        expected += samples
    want = envelope(expected, 8000)
    got = envelope(*read_wav(heard))
    assert len(got) >= len(want), f"{heard}: {len(got)} frames heard, the prompts are {len(want)}"

    def pearson(a, b):
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
        va = sum((x - ma) ** 2 for x in a) ** 0.5
        vb = sum((y - mb) ** 2 for y in b) ** 0.5
        return cov / (va * vb) if va and vb else 0.0

    return max(pearson(want, got[k:k + len(want)]) for k in range(len(got) - len(want) + 1))


def wait_for(cond, secs=15, what="condition"):
    """Poll `cond` until it gives something true (returned), or fail after `secs`."""
    deadline = time.time() + secs
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def record_by_phone(phone, keys, prompt):
    """Press `keys` to record a greeting; the phone's tone is recorded for 3 s, then # ends it, 1 keeps it."""
    phone.press(keys, gap=0.5)
    phone.drain(prompt_secs(prompt, "beep") + 3.0)
    phone.press("#1", gap=1.0)
    phone.drain(prompt_secs("vm-greetsaved") + 0.5)
