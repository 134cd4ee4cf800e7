"""End-to-end harness: runs the real `parley` binary on loopback ports and drives it with real peers
(SIPp, baresip). Every process a test starts is stopped by the fixture that started it."""
import itertools
import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("PARLEY_BIN", ROOT / "target" / "debug" / "parley"))
SIPP = ROOT / "tests" / "sipp"
# With PARLEY_TEST_POSTGRES set to a server's URL (postgres://user@host:port, a throw-away cluster that
# scripts/postgres starts), every Parley of a test gets a database of its own on that server instead of
# the SQLite file in its data directory.
POSTGRES = os.environ.get("PARLEY_TEST_POSTGRES", "").rstrip("/")
# Under pytest-xdist (scripts/test runs two workers) each worker has ranges of its own: signalling and
# helper ports in 21000 + 4000·w, Parley's media in 30000 + 5000·w, baresip's media in 40000 + 10000·w.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
assert WORKER < 2, "the port plan has room for two workers"
PORTS_LOW = 21000 + 4000 * WORKER
_ports = itertools.count(PORTS_LOW, 20)


def next_ports():
    """A fresh block of 20 loopback ports per use, so tests never collide (a test may reach 40 past its
    block's start: the next blocks are free while it runs)."""
    base = next(_ports)
    assert base + 40 < PORTS_LOW + 4000, "out of test ports"
    return base


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgres: also run against PostgreSQL (scripts/test runs these with PARLEY_TEST_POSTGRES)")
    config.addinivalue_line(
        "markers", "alone: timing measured in real time; scripts/test runs these after the others, one at a "
                   "time, on a machine not loaded by other tests")


def new_database(name):
    """A fresh, empty PostgreSQL database on the test server; its URL."""
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True, timeout=30)
    return f"{POSTGRES}/{name}"


def psql(url, sql):
    """Rows of a query as JSON objects (one per row)."""
    out = subprocess.run(["psql", url, "-At", "-c", f"SELECT row_to_json(q) FROM ({sql}) q"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def toml_value(v):
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def toml_text(config):
    """TOML for a flat dict whose dict values become [tables] (JSON strings are TOML basic strings)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for k, v in config.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{json.dumps(kk)} = {toml_value(x)}" for kk, x in v.items()]
    return "\n".join(lines) + "\n"


class Parley:
    def __init__(self, tmp, node=None, database=None, data=None, **config):
        """`node` names one of several Parleys in a test (its own config and log); `database` and `data`
        make it share another's database and data directory."""
        base = next_ports()
        if node:
            tmp = tmp / node
            tmp.mkdir(exist_ok=True)
        self.data = data or tmp / "data"
        self.sip_port = base
        self.http_port = base + 1
        # 200 media ports in 30000-39999 (SIPp scenarios expect relay ports there; baresip's are above
        # 40000), cycling through the worker's 5000: a worker runs its tests one after another.
        low = 30000 + 5000 * WORKER + ((base - PORTS_LOW) // 20 % 25) * 200
        self.rtp = (low, low + 199)
        self.config = tmp / "parley.toml"
        self.config.write_text(toml_text(config))
        self.audio = config.get("audio")
        self.log = tmp / "parley.log"
        self.proc = None
        # database=False: the SQLite file in the data directory, even when PostgreSQL is at hand.
        if database is None and POSTGRES:
            database = new_database(f"parley_e2e_{base}_{os.getpid()}_{time.time_ns() % 10**9}")
        self.database = database or None

    def audio_in_database(self):
        """Whether this Parley keeps its audio in the database (PostgreSQL's default)."""
        return bool(self.database) and self.audio != "files"

    def db_args(self):
        return ["--data", str(self.data)] + (["--database", self.database] if self.database else [])

    def cli(self, *args, check=True, input=None):
        r = subprocess.run([str(BIN), *self.db_args(), *args], capture_output=True, text=True, timeout=60,
                           input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"parley {args} failed: {r.stderr}")
        return r

    def add_user(self, ext, password, name=None):
        self.cli("user", "add", ext, "--name", name or f"User {ext}", "--password", password)

    def start(self, *extra):
        self.proc = subprocess.Popen(
            [str(BIN), "--config", str(self.config), *self.db_args(), "serve",
             "--sip-listen", f"127.0.0.1:{self.sip_port}", "--http-listen", f"127.0.0.1:{self.http_port}",
             "--rtp-ports", f"{self.rtp[0]}-{self.rtp[1]}", "--log-level", "debug,rsipstack=info", *extra],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.http("/health")
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("parley exited: " + self.log.read_text())
                time.sleep(0.1)
        raise AssertionError("parley did not come up: " + self.log.read_text())

    def http(self, path, operator=False):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}")
        if operator:
            # What `parley status` does: the control token the server wrote into its data directory.
            token = (self.data / "control.token").read_text().strip()
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def status(self):
        return self.http("/api/v1/status", operator=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def parley_factory(tmp_path):
    started = []

    def make(**config):
        p = Parley(tmp_path, **config)
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


class Sipp:
    """One SIPp run (foreground or background) against a Parley server."""

    def __init__(self, parley, scenario, port, user=None, password=None, service=None, keys=None, tmp=None, m=1,
                 subst=None, ip="127.0.0.1"):
        """`ip`: the address SIPp's signalling uses (a carrier plays from 127.0.0.3, apart from the
        phones on 127.0.0.1)."""
        self.cwd = tmp / f"sipp-{port}"
        self.cwd.mkdir(exist_ok=True)
        text = (SIPP / scenario).read_text()
        for k, v in (subst or {}).items():
            text = text.replace(f"@@{k}@@", str(v))
        path = self.cwd / scenario
        path.write_text(text)
        cmd = ["sipp", "-sf", str(path), "-i", ip, "-mi", "127.0.0.1", "-p", str(port),
               "-mp", str(port + 2), "-m", str(m), "-nostdin", "-timeout", "30", "-cp", str(port + 5),
               "-trace_err", "-trace_msg", "-trace_logs"]
        if user:
            cmd += ["-au", user, "-ap", password]
            if service and "REGISTER sip:" not in text:
                # Parley checks that the digest uri is the Request-URI; SIPp would otherwise put
                # sip:<server> there for every request.
                cmd += ["-auth_uri", f"{service}@127.0.0.1:{parley.sip_port}"]
        if service:
            cmd += ["-s", service]
        for k, v in (keys or {}).items():
            cmd += ["-key", k, str(v)]
        cmd.append(f"127.0.0.1:{parley.sip_port}")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self, timeout=40):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output = out
        return self.proc.returncode

    def logs(self):
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.cwd.glob("*.log"))

    def assert_ok(self, timeout=40):
        rc = self.wait(timeout)
        assert rc == 0, f"SIPp {self.proc.args[2]} failed rc={rc}\n{self.logs()}"


@pytest.fixture
def sipp(tmp_path):
    runs = []

    def run(parley, scenario, **kw):
        s = Sipp(parley, scenario, tmp=tmp_path, **kw)
        runs.append(s)
        return s

    yield run
    for s in runs:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
