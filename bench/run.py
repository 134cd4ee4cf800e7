#!/usr/bin/env python3
"""Parley's benchmark: registrations/s and call setups/s with digest (SIPp), the largest number of
simultaneous anchored calls with G.711 RTP both ways at 50 packets/s that Parley relays with under 0.1 %
loss (parley-bench), and the largest number of simultaneous voicemail deposits (SIPp streaming RTP, Parley
recording to disk) with under 0.1 % loss and every message of the expected length. `--database
postgres://...` runs Parley on that empty PostgreSQL database instead of SQLite. `--postgres` runs every
phase twice in the same invocation, on SQLite and then on a throw-away PostgreSQL cluster it starts
(scripts/postgres, with PostgreSQL's default durability: fsync and synchronous commits on, stricter than
SQLite's WAL with synchronous=NORMAL), and prints each figure side by side with
the ratio; the signalling rates on PostgreSQL must be within 2x of SQLite's (exit status 1 otherwise).
CPU comes from Parley's own /proc/PID/stat (utime+stime), memory from VmRSS.
Prints figures and ratios against the reference figures measured on this machine kind (see README)."""
import base64
import json
import os
import pathlib
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave

ROOT = pathlib.Path(__file__).resolve().parents[1]
# `--smoke`: the test suite's run, on the debug binaries it built, at the smallest sizes, asserting no
# timing: every phase must still run and give its figures (the benchmark must not rot).
SMOKE = "--smoke" in sys.argv
PROFILE = "debug" if SMOKE else "release"
BIN = ROOT / "target" / PROFILE / "parley"
LOAD = ROOT / "target" / PROFILE / "parley-bench"
SIPP = ROOT / "tests" / "sipp"
TICK = os.sysconf("SC_CLK_TCK")
SIP_PORT, HTTP_PORT = 25160, 25161
ECHO_SRC, ECHO = ROOT / "bench" / "echo" / "echo.c", ROOT / "target" / PROFILE / "parley-echo"
ECHO_PORT = 40000


def cpu_secs(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    m = re.search(r"VmRSS:\s+(\d+)", pathlib.Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1))


def scenario(tmp, name, **subst):
    text = (SIPP / name).read_text()
    for k, v in subst.items():
        text = text.replace(f"@@{k}@@", str(v))
    path = tmp / name
    path.write_text(text)
    return path


def sipp(tmp, path, port, *args, ip="127.0.0.1", server=None):
    """SIPp against Parley (or `server`, ADDR:PORT); `ip`: the address it signals from (a carrier plays
    from 127.0.0.3, since a trunk's address is its credential and the phones are on 127.0.0.1)."""
    cmd = ["sipp", "-sf", str(path), "-i", ip, "-mi", "127.0.0.1", "-p", str(port), "-mp", str(port + 2),
           "-nostdin", "-timeout", "120", "-cp", str(port + 5), *args, server or f"127.0.0.1:{SIP_PORT}"]
    return subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout):
    """Wait up to `timeout` seconds for a SIPp that should be done; one that is not is killed."""
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def wav_secs(path):
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def option(name):
    """The value after `name` on the command line, if given."""
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args[:-1] else None


def db_args(data, database):
    return ["--data", str(data)] + (["--database", database] if database else [])


def vm_messages(data, database):
    if database:
        out = subprocess.run(["psql", database, "-At", "-F", ",", "-c",
                              "SELECT id, duration_ms FROM messages WHERE state = 'ready' AND mailbox = '102'"],
                             check=True, capture_output=True, text=True).stdout
        return [tuple(int(x) for x in line.split(",")) for line in out.splitlines() if line]
    db = sqlite3.connect(str(data / "parley.db"), timeout=10)
    rows = db.execute("SELECT id, duration_ms FROM messages WHERE state = 'ready' AND mailbox = '102'").fetchall()
    db.close()
    return rows


def vm_message_ids(data, database):
    return {m[0] for m in vm_messages(data, database)}


def successful(out):
    m = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", out)
    return int(m.group(1)) if m else 0


def run(database, quick):
    """Every phase on one Parley, on `database` (None: SQLite in the data directory); returns the
    figures by name."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="parley-bench-"))
    data = tmp / "data"
    # The load comes from a few accounts on one address: the per-account and per-address bounds that
    # protect a real system from one phone are lifted for it (the bounds are not what is measured).
    conf = tmp / "parley.toml"
    conf.write_text("max_calls_per_account = 100000\nmax_voicemail_per_account = 100000\n"
                    "max_voicemail_per_address = 100000\nmain_number = \"+15855550100\"\n"
                    "outside_calls_per_user = 0\noutside_calls_total = 0\noutside_calls_per_user_hour = 0\n"
                    "outside_calls_total_hour = 0\nconference_rooms = 1000\n"
                    f"relay_threads = {option('--relay-threads') or 0}\n")
    def cli(*args):
        subprocess.run([str(BIN), "--config", str(conf), *db_args(data, database), *args], check=True,
                       capture_output=True)
    for ext in ("100", "101", "102"):
        cli("user", "add", ext, "--name", f"Bench {ext}", "--password", f"secret{ext}")
    # 101 sets its own call route over the JSON API (the routing phase).
    cli("user", "set", "101", "--privilege", "routes")
    # 102 schedules the conference phase's conferences over the JSON API.
    cli("user", "set", "102", "--privilege", "conferences")
    # Outside calls: 100 may dial national numbers through an IP peer, the carrier SIPp on 127.0.0.3.
    cli("user", "set", "100", "--dial-class", "national")
    cli("trunk", "add", "carrier", "--host", "127.0.0.3", "--port", "25600")
    print(f"\ndatabase: {database.split('@')[-1] if database else 'SQLite in the data directory'}")
    server = subprocess.Popen([str(BIN), "--config", str(conf), *db_args(data, database), "serve",
                               "--sip-listen", f"127.0.0.1:{SIP_PORT}",
                               "--http-listen", f"127.0.0.1:{HTTP_PORT}", "--rtp-ports", "30000-39999",
                               "--log-level", "warn"], stdout=open(tmp / "parley.log", "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        pid = server.pid
        results = {}
        print(f"Parley pid {pid}, idle RSS {rss_kib(pid)} KiB")

        if want("sip"):
            # 1. Registrations per second with digest (each is REGISTER, 401, REGISTER+auth, 200).
            n = REGISTRATIONS[quick]
            reg = scenario(tmp, "register.xml")
            c0, t0 = cpu_secs(pid), time.time()
            p = sipp(tmp, reg, 25200, "-m", str(n), "-r", "20000", "-l", "400", "-au", "100", "-ap", "secret100",
                     "-s", "100", "-key", "expires", "3600")
            out = p.communicate()[0]
            wall, cpu = time.time() - t0, cpu_secs(pid) - c0
            ok = successful(out)
            results["registrations/s"] = ok / wall
            results["CPU us per registration"] = 1e6 * cpu / max(ok, 1)
            print(f"registrations: {ok}/{n} ok in {wall:.2f}s = {ok / wall:.0f}/s; CPU {1e6 * cpu / max(ok, 1):.0f} us per registration")

            # 2. Call setups per second with digest (INVITE, 407, ACK, INVITE+auth, 100, 180, 200, ACK, BYE, 200).
            n = CALLS[quick]
            reg101 = sipp(tmp, reg, 25300, "-m", "1", "-au", "101", "-ap", "secret101", "-s", "101", "-key", "expires", "3600")
            reg101.communicate()
            uas = sipp(tmp, scenario(tmp, "uas_answer.xml"), 25300, "-m", str(n))
            time.sleep(0.5)
            uac = scenario(tmp, "uac_call.xml", caller="100", hold=0)
            c0, t0 = cpu_secs(pid), time.time()
            p = sipp(tmp, uac, 25400, "-m", str(n), "-r", "3000", "-l", "400", "-au", "100", "-ap", "secret100", "-s", "101",
                     "-auth_uri", f"101@127.0.0.1:{SIP_PORT}")
            out = p.communicate()[0]
            wall, cpu = time.time() - t0, cpu_secs(pid) - c0
            uas.communicate(timeout=30)
            ok = successful(out)
            results["call setups/s"] = ok / wall
            results["CPU ms per call"] = 1e3 * cpu / max(ok, 1)
            print(f"call setups: {ok}/{n} ok in {wall:.2f}s = {ok / wall:.0f}/s (offered 3000/s); CPU {1e3 * cpu / max(ok, 1):.2f} ms per call (setup + teardown)")

            # 2b. Through a trunk, beside internal calls at the same offered rate (1000/s: the outside
            #     call costs more, and a carrier SIPp swamped at 3000/s aborts on INVITE retransmissions,
            #     which would measure SIPp): 100 dials 9 and a national number, the dial plan and the
            #     dialling class decide, and the B leg goes to the carrier (SIPp as UAS on 127.0.0.3).
            def calls_at(rate, service, uas_port, uas_ip):
                uas = sipp(tmp, scenario(tmp, "uas_answer.xml"), uas_port, "-m", str(n), ip=uas_ip)
                time.sleep(0.5)
                c0, t0 = cpu_secs(pid), time.time()
                p = sipp(tmp, uac, 25700, "-m", str(n), "-r", str(rate), "-l", "400", "-au", "100", "-ap", "secret100",
                         "-s", service, "-auth_uri", f"{service}@127.0.0.1:{SIP_PORT}")
                out = p.communicate()[0]
                wall, cpu = time.time() - t0, cpu_secs(pid) - c0
                finish(uas, 40)
                ok = successful(out)
                return ok, ok / wall, 1e3 * cpu / max(ok, 1)
            in_ok, in_rate, in_ms = calls_at(1000, "101", 25300, "127.0.0.1")
            out_ok, out_rate, out_ms = calls_at(1000, "95855550123", 25600, "127.0.0.3")
            results["outside call setups/s"] = out_rate
            results["CPU ms per outside call"] = out_ms
            results["outside/internal CPU per call"] = out_ms / max(in_ms, 1e-9)
            print(f"at 1000/s offered: internal {in_ok}/{n} ok = {in_rate:.0f}/s, CPU {in_ms:.2f} ms per call; "
                  f"outside through the trunk {out_ok}/{n} ok = {out_rate:.0f}/s, CPU {out_ms:.2f} ms per call "
                  f"({out_ms / max(in_ms, 1e-9):.2f}x internal)")

            # 2c. Through a call route with two destinations at once (101's phone and 102's; 102
            #     answers, 101's is cancelled), beside the direct call at the same offered rate.
            def route(method, body=None):
                req = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/api/v1/users/101/routes/in-office",
                                             data=json.dumps(body).encode() if body else None, method=method,
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": "Basic " + base64.b64encode(b"101:secret101").decode()})
                urllib.request.urlopen(req, timeout=5).read()
            reg102 = sipp(tmp, reg, 25800, "-m", "1", "-au", "102", "-ap", "secret102", "-s", "102", "-key", "expires", "3600")
            reg102.communicate()
            route("PUT", {"attempts": [{"destinations": ["handsets", "102"]}]})
            ringing = sipp(tmp, scenario(tmp, "uas_ring_cancel.xml"), 25300, "-m", str(n))
            answering = sipp(tmp, scenario(tmp, "uas_answer.xml"), 25800, "-m", str(n))
            time.sleep(0.5)
            c0, t0 = cpu_secs(pid), time.time()
            p = sipp(tmp, uac, 25700, "-m", str(n), "-r", "1000", "-l", "400", "-au", "100", "-ap", "secret100",
                     "-s", "101", "-auth_uri", f"101@127.0.0.1:{SIP_PORT}")
            out = p.communicate()[0]
            wall, cpu = time.time() - t0, cpu_secs(pid) - c0
            for uas in (answering, ringing):
                finish(uas, 40)
            route_ok = successful(out)
            route_ms = 1e3 * cpu / max(route_ok, 1)
            results["route call setups/s"] = route_ok / wall
            results["CPU ms per routed call"] = route_ms
            results["routed/direct CPU per call"] = route_ms / max(in_ms, 1e-9)
            print(f"at 1000/s offered: through a route with two phones at once {route_ok}/{n} ok = "
                  f"{route_ok / wall:.0f}/s, CPU {route_ms:.2f} ms per call ({route_ms / max(in_ms, 1e-9):.2f}x direct)")
            route("DELETE")
            # 102 is the voicemail phase's mailbox, which must have no phone: its binding goes.
            sipp(tmp, reg, 25800, "-m", "1", "-au", "102", "-ap", "secret102", "-s", "102", "-key", "expires",
                 "0").communicate()

        if want("relay"):
            # 3. Simultaneous anchored calls with RTP both ways, 50 packets/s each way.
            duration = 5 if quick else 10
            levels = [10] if SMOKE else [50, 100, 200] if quick else [50, 100, 200, 400, 800, 1200, 1600, 2000]
            best = None
            idle_rss = rss_kib(pid)
            echo_us = {}
            for calls in levels:
                load = subprocess.Popen([str(LOAD), "media", "--server", f"127.0.0.1:{SIP_PORT}", "--calls", str(calls),
                                         "--duration", str(duration), "--rate", "100", "--base-port", "25500"],
                                        stdout=subprocess.PIPE, text=True)
                # CPU over a window while every call streams (none set up or torn down in it): the
                # packets in it are the offered rate (50/s each way a call), which the loss check vouches for.
                cpu, wall = steady_cpu(lambda: cpu_secs(pid), calls / 100 + 1.0, duration - 2.0)
                rss = rss_kib(pid)
                out = load.communicate()[0]
                f = dict(re.findall(r"(\w+)=([\d.]+)", out))
                est = int(f.get("calls_established", 0))
                loss_ab = float(re.search(r"caller_to_callee .*loss_pct=([\d.]+)", out).group(1))
                loss_ba = float(re.search(r"callee_to_caller .*loss_pct=([\d.]+)", out).group(1))
                us_pkt = 1e6 * cpu / (calls * 100 * wall)
                per_call_kib = (rss - idle_rss) / max(est, 1)
                good = est == calls and max(loss_ab, loss_ba) < 0.1
                # The reference, at the same packet rate: the C echo with one socket per stream (two a call).
                echo_us[calls], echo_loss = echo_phase(2 * calls, duration)
                print(f"{calls:5d} calls: established {est}, loss A->B {loss_ab:.4f}% B->A {loss_ba:.4f}%, "
                      f"setup p50 {f.get('setup_ms_p50')} ms p99 {f.get('setup_ms_p99')} ms, "
                      f"CPU {us_pkt:.2f} us/relayed packet (C echo {echo_us[calls]:.2f} us, loss {echo_loss:.4f}%: "
                      f"{us_pkt / max(echo_us[calls], 1e-9):.2f}x), memory {per_call_kib:.1f} KiB/call  "
                      f"{'OK' if good else 'OVER'}")
                # A smoke run checks that the phase measures, not what it measures.
                if not good and not SMOKE:
                    break
                best = (calls, us_pkt, per_call_kib)
                time.sleep(1)
            if best:
                calls, us_pkt, kib = best
                results["simultaneous relayed calls"] = calls
                results["CPU us per relayed packet"] = us_pkt
                results["memory KiB per call"] = kib
                REFERENCE["CPU us per relayed packet"] = ("C echo, us per packet", echo_us[calls])
                print(f"\nlargest clean level: {calls} simultaneous calls ({calls * 100} packets/s relayed)")
                print(f"CPU per relayed packet {us_pkt:.2f} us: {us_pkt / max(echo_us[calls], 1e-9):.2f}x the C echo "
                      f"at the same packet rate; memory {kib:.1f} KiB per call")

        if want("voicemail"):
            # 4. Simultaneous voicemail deposits: SIPp callers stream RTP into 102's voicemail (never
            #    registered), each recording to disk; loss from Parley's own sequence tracking, every message
            #    checked for its length.
            vm_levels = [3] if SMOKE else [10, 25] if quick else [10, 25, 50, 100, 200, 300]
            record_secs = 5 if quick else 10
            greeting = sum(wav_secs(ROOT / "prompts" / "en" / f"{i}.wav") for i in
                           ("vm-theperson", "digits/1", "digits/0", "digits/2", "vm-isunavail", "vm-intro", "beep"))
            hold_ms = int((greeting + record_secs) * 1000)
            tone = tmp / "tone.wav"
            subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(tone), "synth",
                            str(hold_ms / 1000 + 5), "sine", "440", "vol", "0.5"], check=True)
            uac = scenario(tmp, "uac_vm_stream.xml", caller="100", hold=hold_ms, wav=tone, te="")
            best = None
            for n in vm_levels:
                before = vm_message_ids(data, database)
                c0 = cpu_secs(pid)
                p = sipp(tmp, uac, 26000, "-m", str(n), "-l", str(n), "-r", "50", "-au", "100", "-ap", "secret100",
                         "-s", "102", "-auth_uri", f"102@127.0.0.1:{SIP_PORT}")
                seen = {}
                # CPU over a window inside the recording (after every greeting, before any hang-up):
                # what a received packet costs while it is written to disk. The status is not read then.
                t0 = time.time() + n / 50 + greeting
                win, cw, polled = (t0 + 0.7, t0 + record_secs - 0.7), [], 0.0
                while p.poll() is None:
                    now = time.time()
                    if len(cw) < 2 and now >= win[len(cw)]:
                        cw.append((cpu_secs(pid), now))
                    if now - polled >= 0.5 and not win[0] - 0.6 <= now <= win[1]:
                        polled = now
                        try:
                            req = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/api/v1/status", headers={
                                "Authorization": "Bearer " + (data / "control.token").read_text().strip()})
                            st = json.loads(urllib.request.urlopen(req, timeout=2).read())
                            for v in st["voicemail"]:
                                seen[v["id"]] = (v["packets_received"], v["packets_lost"])
                        except OSError:
                            pass
                    time.sleep(0.05)
                out = p.communicate()[0]
                time.sleep(1.0)
                cpu = cpu_secs(pid) - c0
                ok = successful(out)
                received = sum(r for r, _ in seen.values())
                lost = sum(lo for _, lo in seen.values())
                loss = 100.0 * lost / max(received + lost, 1)
                new = [m for m in vm_messages(data, database) if m[0] not in before]
                intact = [m for m in new if abs(m[1] - record_secs * 1000) <= 400]
                good = ok == n and len(intact) == n and loss < 0.1
                us_rec = (1e6 * (cw[1][0] - cw[0][0]) / (n * 50 * (cw[1][1] - cw[0][1])) if len(cw) == 2
                          else float("nan"))
                echo_rec, _ = echo_phase(n, 5)
                print(f"{n:5d} deposits: {ok} calls ok, {len(new)} messages, {len(intact)} of expected length "
                      f"({record_secs}s +-0.4s), loss {loss:.4f}%, CPU {1e3 * cpu / max(n, 1):.1f} ms per deposit; "
                      f"while recording {us_rec:.2f} us per received packet (C echo {echo_rec:.2f} us: "
                      f"{us_rec / max(echo_rec, 1e-9):.2f}x)  {'OK' if good else 'OVER'}")
                # A smoke run checks that the phase measures, not what it measures.
                if not good and not SMOKE:
                    break
                best = (n, 1e3 * cpu / n, us_rec, echo_rec)
                time.sleep(1)
            if best:
                results["simultaneous deposits"] = best[0]
                results["CPU ms per deposit"] = best[1]
                results["CPU us per recorded packet"] = best[2]
                REFERENCE["CPU us per recorded packet"] = ("C echo, us per packet", best[3])
                print(f"\nlargest clean voicemail level: {best[0]} simultaneous recordings, "
                      f"{best[1]:.1f} ms CPU per {record_secs}s deposit (greeting + recording)")
        if want("conference"):
            results.update(conferences(pid, quick))
        if option("--soak"):
            results.update(soak(pid, float(option("--soak")), int(option("--soak-calls") or 800)))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def soak(pid, secs, calls):
    """`--soak SECS [--soak-calls N]` (default 800 calls): N anchored calls streaming G.711 both ways
    for SECS seconds; Parley's RSS sampled every 10 s once every call is up, and its slope (least
    squares, KiB per minute): memory must stay flat at a steady load."""
    load = subprocess.Popen([str(LOAD), "media", "--server", f"127.0.0.1:{SIP_PORT}", "--calls", str(calls),
                             "--duration", str(secs), "--rate", "100", "--base-port", "25500"],
                            stdout=subprocess.PIPE, text=True)
    start = time.time() + calls / 100 + 5
    time.sleep(max(start - time.time(), 0))
    samples = []
    while load.poll() is None and time.time() < start + secs - calls / 100 - 10:
        samples.append((time.time() - start, rss_kib(pid)))
        time.sleep(10)
    out = load.communicate()[0]
    f = dict(re.findall(r"(\w+)=([\d.]+)", out))
    loss = max(float(x) for x in re.findall(r"loss_pct=([\d.]+)", out) or ["100"])
    n = len(samples)
    slope = 0.0
    if n >= 2:
        mt, mr = sum(t for t, _ in samples) / n, sum(r for _, r in samples) / n
        var = sum((t - mt) ** 2 for t, _ in samples)
        slope = 60 * sum((t - mt) * (r - mr) for t, r in samples) / var if var else 0.0
    print(f"soak: {f.get('calls_established')}/{calls} calls for {secs:.0f}s, loss {loss:.4f}%, RSS every 10 s (KiB): "
          + " ".join(str(r) for _, r in samples) + f"; slope {slope:+.1f} KiB/min")
    return {"soak RSS slope KiB/min": slope, "soak loss %": loss}


def want(phase):
    """Whether `--phases` (comma-separated: sip, relay, voicemail, conference, kamailio; default all)
    names `phase` (`--phases none` with `--soak` runs the soak alone)."""
    phases = option("--phases")
    return phases is None or phase in phases.split(",")


# Each figure's reference measured in the same run, by figure name: (what it is, its value).
REFERENCE = {}
# The signalling phases' sizes (full, quick), the same for Parley and for Kamailio.
REGISTRATIONS = {False: 5000, True: 200 if SMOKE else 1000}
CALLS = {False: 2000, True: 50 if SMOKE else 300}
KAMAILIO_CFG, KAMAILIO_PORT = ROOT / "bench" / "kamailio" / "kamailio.cfg", 25170


def group_cpu_secs(pgid):
    """CPU (utime+stime) of every process in process group `pgid` (Kamailio forks its workers)."""
    total = 0.0
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def kamailio(quick):
    """The signalling reference: Kamailio (Debian's) as a digest registrar and a stateful
    record-routing proxy (bench/kamailio/kamailio.cfg), driven by the same SIPp scenarios, counts and
    rates as Parley's registration and call phases; its CPU per registration and per proxied call (all
    its processes) become those figures' denominators."""
    if not want("kamailio"):
        return
    if not shutil.which("kamailio"):
        print("\nKamailio is not installed (scripts/install-test-deps): no signalling reference")
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="parley-bench-kamailio-"))
    server = f"127.0.0.1:{KAMAILIO_PORT}"
    kam = subprocess.Popen(["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-w", str(tmp), "-P", str(tmp / "pid")],
                           stdout=open(tmp / "kamailio.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(1.5)
        reg = scenario(tmp, "register.xml")
        n = REGISTRATIONS[quick]
        c0, t0 = group_cpu_secs(kam.pid), time.time()
        out = sipp(tmp, reg, 25200, "-m", str(n), "-r", "20000", "-l", "400", "-au", "100", "-ap", "secret100",
                   "-s", "100", "-key", "expires", "3600", server=server).communicate()[0]
        wall, cpu = time.time() - t0, group_cpu_secs(kam.pid) - c0
        ok = successful(out)
        per_reg = 1e6 * cpu / max(ok, 1)
        print(f"\nKamailio registrations: {ok}/{n} ok in {wall:.2f}s = {ok / wall:.0f}/s; CPU {per_reg:.0f} us per registration")
        if ok:
            REFERENCE["CPU us per registration"] = ("Kamailio, us per registration", per_reg)
        n = CALLS[quick]
        sipp(tmp, reg, 25300, "-m", "1", "-au", "101", "-ap", "secret101", "-s", "101", "-key", "expires", "3600",
             server=server).communicate()
        uas = sipp(tmp, scenario(tmp, "uas_answer.xml"), 25300, "-m", str(n), server=server)
        time.sleep(0.5)
        uac = scenario(tmp, "uac_call.xml", caller="100", hold=0)
        # The scenario checks that Parley anchored the media (its relay's ports); a proxy passes the
        # callee's own SDP through.
        uac.write_text(uac.read_text().replace("m=audio 3[0-9]{4} RTP", "m=audio [0-9]+ RTP"))
        c0, t0 = group_cpu_secs(kam.pid), time.time()
        out = sipp(tmp, uac, 25400, "-m", str(n), "-r", "3000", "-l", "400", "-au", "100", "-ap", "secret100",
                   "-s", "101", "-auth_uri", f"101@{server}", server=server).communicate()[0]
        wall, cpu = time.time() - t0, group_cpu_secs(kam.pid) - c0
        finish(uas, 30)
        ok = successful(out)
        per_call = 1e3 * cpu / max(ok, 1)
        print(f"Kamailio call setups: {ok}/{n} ok in {wall:.2f}s = {ok / wall:.0f}/s; CPU {per_call:.2f} ms per proxied call")
        if ok:
            REFERENCE["CPU ms per call"] = ("Kamailio, ms per proxied call", per_call)
    finally:
        os.killpg(kam.pid, 15)
        kam.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def echo_phase(streams, duration):
    """The C echo with `streams` sockets, driven by parley-bench at 50 packets/s a stream for `duration`
    seconds: its CPU per echoed packet (us) and the loss."""
    echo = subprocess.Popen([str(ECHO), str(ECHO_PORT), str(streams)], stdout=subprocess.PIPE, text=True)
    try:
        echo.stdout.readline()
        load = subprocess.Popen([str(LOAD), "echo", "--server", f"127.0.0.1:{ECHO_PORT}", "--streams",
                                 str(streams), "--duration", str(duration)], stdout=subprocess.PIPE, text=True)
        cpu, wall = steady_cpu(lambda: cpu_secs(echo.pid), 1.0, duration - 2.0)
        out = load.communicate()[0]
    finally:
        echo.kill()
        echo.wait()
    loss = max(float(x) for x in re.findall(r"loss_pct=([\d.]+)", out))
    return 1e6 * cpu / (streams * 50 * wall), loss


def steady_cpu(cpu, settle, window):
    """CPU seconds `cpu()` grows by over `window` seconds, starting `settle` seconds from now, and the
    window's real length."""
    time.sleep(settle)
    c0, t0 = cpu(), time.time()
    time.sleep(window)
    return cpu() - c0, time.time() - t0


def conferences(pid, quick):
    """5. Conference rooms: rooms x participants joined through the Conference Center (RFC 4733 keys),
    two talkers a room and the others silent, G.711 both ways; Parley's CPU per participant and as a share
    of one core, loss and the longest pause between packets a participant saw; then the cost of 100 idle
    rooms (conferences defined and active, nobody in them) against Parley with none."""
    import datetime
    auth = "Basic " + base64.b64encode(b"102:secret102").decode()

    def schedule(n):
        t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
        out = []
        for _ in range(n):
            body = json.dumps({"date": t.strftime("%Y-%m-%d"), "time": t.strftime("%H:%M"), "time_zone": "UTC",
                               "duration_minutes": 120}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/api/v1/conferences", data=body,
                                         method="POST", headers={"Authorization": auth,
                                                                 "Content-Type": "application/json"})
            c = json.loads(urllib.request.urlopen(req, timeout=10).read())
            out.append(f"{c['id']}:{c['password']}")
        return out

    results = {}
    levels = [(1, 5)] if SMOKE else [(1, 10), (1, 30)] if quick else [(1, 10), (1, 30), (4, 30), (10, 30), (20, 30)]
    duration = 5 if quick else 10
    rooms_made = schedule(max(r for r, _ in levels))
    best = None
    for rooms, per_room in levels:
        load = subprocess.Popen([str(LOAD), "conference", "--server", f"127.0.0.1:{SIP_PORT}",
                                 "--rooms", ",".join(rooms_made[:rooms]), "--participants", str(per_room),
                                 "--talkers", "2", "--duration", str(duration), "--base-port", "27000",
                                 "--caller", "100:secret100"], stdout=subprocess.PIPE, text=True)
        time.sleep(9.5)
        c0, t0 = cpu_secs(pid), time.time()
        time.sleep(duration - 1)
        cpu, wall = cpu_secs(pid) - c0, time.time() - t0
        out = load.communicate(timeout=60)[0]
        f = dict(re.findall(r"(\w+)=([\d.]+)", out))
        n = rooms * per_room
        share = 100.0 * cpu / wall
        good = int(f.get("completed", 0)) == n and float(f.get("loss_pct", 100)) < 0.1
        print(f"{rooms:3d} rooms x {per_room} participants: completed {f.get('completed')}, received "
              f"{f.get('received')}/{f.get('expected')}, loss {f.get('loss_pct')}%, longest pause "
              f"{f.get('max_gap_ms')} ms, CPU {share:.2f}% of a core ({1e6 * cpu / wall / n:.0f} us/s per "
              f"participant)  {'OK' if good else 'OVER'}")
        if rooms == 1 and per_room == 30:
            results["30-party conference, % of a core"] = share
        if not good and not SMOKE:
            break
        best = (rooms, per_room, share)
        time.sleep(2)
    if best:
        results["largest clean conference load (participants)"] = best[0] * best[1]
        print(f"\nlargest clean conference load: {best[0]} rooms x {best[1]} participants")
    # Idle rooms: Parley at rest, then with 100 conferences active and nobody in them.
    def idle_share(secs=5):
        c0 = cpu_secs(pid)
        time.sleep(secs)
        return 100.0 * (cpu_secs(pid) - c0) / secs
    time.sleep(2)
    before = idle_share()
    schedule(100)
    after = idle_share()
    results["100 idle rooms, % of a core"] = after
    print(f"idle: {before:.3f}% of a core with no conference, {after:.3f}% with 100 idle rooms")
    return results


def report(results):
    """The table of each figure, its reference measured in this run and the ratio; written as JSON
    (`--json FILE`, default target/bench/<commit>.json) and compared with an earlier run's
    (`--compare OLD.json`)."""
    print(f"\n{'figure':44} {'Parley':>10} {'reference (same run)':>32} {'ratio':>7}")
    for name, v in results.items():
        ref = REFERENCE.get(name)
        r = f"{ref[0]} {ref[1]:.4g}" if ref else "-"
        ratio = f"{v / ref[1]:.2f}" if ref and ref[1] else "-"
        print(f"{name:44} {v:>10.4g} {r:>32} {ratio:>7}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    path = pathlib.Path(option("--json") or ROOT / "target" / "bench" / f"{commit}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"commit": commit, "figures": results,
                                "references": {k: {"what": w, "value": v} for k, (w, v) in REFERENCE.items()}},
                               indent=1))
    print(f"written to {path}")
    old_path = option("--compare")
    if old_path:
        old = json.loads(pathlib.Path(old_path).read_text())
        print(f"\n{'figure':44} {'before':>10} {'now':>10} {'now/before':>11} {'ratio to ref':>20}")
        for name, v in results.items():
            o = old["figures"].get(name)
            ref_now, ref_old = REFERENCE.get(name), old.get("references", {}).get(name)
            rr = (f"{o / ref_old['value']:.2f} -> {v / ref_now[1]:.2f}" if ref_now and ref_old and o
                  and ref_old["value"] and ref_now[1] else "-")
            print(f"{name:44} {'-' if o is None else f'{o:.4g}':>10} {v:>10.4g} "
                  f"{(f'{v / o:.2f}' if o else '-'):>11} {rr:>20}")


# What a smoke run must have measured: each phase's figures and the references beside them.
SMOKE_FIGURES = ["registrations/s", "call setups/s", "outside call setups/s", "route call setups/s",
                 "simultaneous relayed calls", "simultaneous deposits",
                 "largest clean conference load (participants)", "100 idle rooms, % of a core"]
SMOKE_REFERENCES = ["CPU us per relayed packet", "CPU us per recorded packet", "CPU us per registration",
                    "CPU ms per call"]


def main():
    quick = "--quick" in sys.argv or SMOKE
    if not SMOKE:
        subprocess.run(["cargo", "build", "--release", "-p", "parley", "-p", "parley-bench"], cwd=ROOT,
                       check=True)
    subprocess.run(["gcc", "-O2", "-o", str(ECHO), str(ECHO_SRC)], check=True)
    if "--postgres" not in sys.argv:
        results = run(option("--database"), quick)
        kamailio(quick)
        report(results)
        if SMOKE:
            missing = [k for k in SMOKE_FIGURES if k not in results]
            missing += [f"reference of {k}" for k in SMOKE_REFERENCES if k not in REFERENCE]
            print("smoke run: " + ("every phase measured" if not missing else "MISSING " + ", ".join(missing)))
            return 1 if missing else 0
        return 0
    sqlite = run(None, quick)
    pg_dir = pathlib.Path(tempfile.mkdtemp(prefix="parley-bench-pg-"))
    env = dict(os.environ, PARLEY_PG_DURABLE="1")
    url = subprocess.run(["bash", str(ROOT / "scripts" / "postgres"), "start", str(pg_dir)], env=env,
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["psql", f"{url}/postgres", "-q", "-c", "CREATE DATABASE bench"], check=True)
        pg = run(f"{url}/bench", quick)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres"), "stop", str(pg_dir)], check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)
    print(f"\n{'figure (same run)':32} {'SQLite':>10} {'PostgreSQL':>11} {'PG/SQLite':>10}")
    def figure(v):
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    for name in list(sqlite) + [k for k in pg if k not in sqlite]:
        a, b = sqlite.get(name), pg.get(name)
        ratio = f"{b / a:.2f}" if a and b else "-"
        print(f"{name:32} {figure(a):>10} {figure(b):>11} {ratio:>10}")
    kamailio(quick)
    report(sqlite)
    slow = [k for k in ("registrations/s", "call setups/s") if pg.get(k, 0) < sqlite.get(k, 0) / 2]
    print("signalling on PostgreSQL within 2x of SQLite: " + ("yes" if not slow else "NO (" + ", ".join(slow) + ")"))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
