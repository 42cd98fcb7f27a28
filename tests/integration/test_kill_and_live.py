#!/usr/bin/env python3
"""A hung process is diagnosed live, and its trace survives SIGKILL.

Starts the asgiref cancelled-request deadlock with the shim enabled through
the environment (no CLI), waits until it hangs, then:
  1. `waitgraph live PID` must report cross-call-deadlock while the process is
     still hung (it finds the trace through $TMPDIR/waitgraph-<uid>/live/<pid>);
  2. `waitgraph live TRACE` must too;
  3. after SIGKILL, `waitgraph analyze TRACE` must still find the cycle.

usage: test_kill_and_live.py --waitgraph BIN [--python PY] [--case DIR]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASE = os.path.join(HERE, "..", "..", "testdata", "cases", "asgiref_cancelled_request_deadlock")
FINDING = "cross-call-deadlock"
# The program prints this line just before cancelling; it hangs ~0.3 s later.
HANG_MARKER = b"client disconnected"
HANG_SETTLE = 0.8
LIVE_DEADLINE = 6.0   # seconds of retrying `live` before giving up


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    ap.add_argument("--case", default=DEFAULT_CASE)
    args = ap.parse_args()
    c = wgtest.Checker("kill_and_live")
    tmp = tempfile.mkdtemp(prefix="wg-live-")
    proc = None
    try:
        proc = check(args, tmp, c)
    finally:
        if proc is not None and proc.poll() is None:
            wgtest.kill_group(proc)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return c.finish()


def check(args, tmp, c):
    wg = args.waitgraph
    trace = os.path.join(tmp, "hung.wgtrace")
    # Private TMPDIR: the live registry ($TMPDIR/waitgraph-<uid>/live/<pid>) is ours.
    env = wgtest.shim_env(wg, trace, {"TMPDIR": tmp}, checker=c)
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("WAITGRAPH_DIR", None)
    program = os.path.join(os.path.abspath(args.case), "program.py")
    print("starting %s with PYTHONPATH=%s WAITGRAPH_TRACE=%s" % (program, env["PYTHONPATH"], trace))
    proc = subprocess.Popen([args.python, program], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, cwd=tmp, start_new_session=True)

    line = read_line_with_timeout(proc, 10.0)
    if HANG_MARKER not in line:
        c.fail("program did not reach the cancellation", "first line: %r; exit %s; stderr:\n%s" % (
            line, proc.poll(), proc.stderr.read().decode("utf-8", "replace") if proc.poll() is not None else ""))
        return proc
    time.sleep(HANG_SETTLE)
    if not c.expect(proc.poll() is None, "program is hung (still running %.1f s after the cancel)" % HANG_SETTLE,
                    "it exited with %s" % proc.poll()):
        return proc

    registry = os.path.join(tmp, "waitgraph-%d" % os.geteuid(), "live", str(proc.pid))
    if c.expect(os.path.isfile(registry), "live registry file %s exists" % registry):
        with open(registry) as f:
            named = f.readline().strip()
        c.expect(os.path.realpath(named) == os.path.realpath(trace),
                 "live registry names the trace", "it contains %r" % named)
    c.expect(wgtest.wait_for_file(trace, 2.0), "trace has data while the process is hung")

    for target, what in ((str(proc.pid), "live PID"), (trace, "live TRACE")):
        r = retry_live(wg, target, env)
        text = (r.stdout + r.stderr).decode("utf-8", "replace")
        c.expect(FINDING in text and not r.timed_out, "`waitgraph %s` reports %s" % (what, FINDING), r.describe())
        c.expect(b"Traceback" not in r.stderr and r.returncode is not None and r.returncode >= 0,
                 "`waitgraph %s` does not crash" % what, r.describe())
        c.expect(proc.poll() is None, "process still hung after `waitgraph %s` (live must not disturb it)" % what)

    r = wgtest.run([wg, "live", str(proc.pid), "--format", "json"], limit=15, env=env)
    report = wgtest.load_json(r.stdout, "live --format json output", c) if r.returncode == 0 else None
    c.expect(r.returncode == 0, "`waitgraph live PID --format json` exits 0", r.describe())
    findings = wgtest.findings_of(report, "live --format json", c) if report is not None else None
    if findings is not None:
        wgtest.check_findings(findings, {"findings": [{"name": FINDING, "severity": "error"}]}, "live --format json", c)

    # SIGKILL: no atexit, no flush. The chunks written so far must suffice.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    c.ok("program SIGKILLed (exit %s)" % proc.returncode)

    with open(trace, "rb") as f:
        data = f.read()
    try:
        frames, tail = wgtest.read_frames(data)
        c.expect(frames, "killed trace has whole chunks (%d chunks, %d bytes, %d trailing)" % (
            len(frames), len(data), tail))
    except ValueError as e:
        c.fail("killed trace framing: %s" % e)

    a = wgtest.run([wg, "analyze", trace, "--format", "json"], limit=60)
    if c.expect(a.returncode == 0, "`analyze` of the killed trace exits 0", a.describe()):
        report = wgtest.load_json(a.stdout, "analyze output", c)
        findings = wgtest.findings_of(report, "analyze", c) if report is not None else None
        if findings is not None:
            print("findings:\n" + wgtest.indent(wgtest.summarize(findings)))
            wgtest.check_findings(findings, {"findings": [{
                "name": FINDING, "severity": "error",
                "message_contains": ["ThreadSensitiveContext.__aexit__", "run_until_future"]}]},
                "analyze of killed trace", c)
            # Hung since ~0.3 s after the marker, killed >= HANG_SETTLE s after it:
            # heartbeat chunks carry the trace's end up to (nearly) the kill.
            held = [f.get("held_seconds") for f in findings if f.get("name") == FINDING]
            c.expect(any(isinstance(h, (int, float)) and h >= HANG_SETTLE - 0.5 for h in held),
                     "the killed trace shows the cycle held >= %.1f s" % (HANG_SETTLE - 0.5),
                     "held_seconds: %s" % held)
    k = wgtest.run([wg, "check", trace], limit=60)
    c.expect(k.returncode == 1, "`check` of the killed trace exits 1", k.describe())
    return proc


def read_line_with_timeout(proc, limit):
    """First stdout line of proc, or b"" after `limit` seconds."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf and time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    sel.close()
    return buf


def retry_live(wg, target, env):
    """`waitgraph live` until it names the finding (a chunk may still be in
    flight right after the hang) or LIVE_DEADLINE passes; returns the last run."""
    deadline = time.monotonic() + LIVE_DEADLINE
    while True:
        r = wgtest.run([wg, "live", target], limit=15, env=env)
        if FINDING.encode() in r.stdout + r.stderr or time.monotonic() >= deadline:
            return r
        time.sleep(0.3)


if __name__ == "__main__":
    wgtest.main_guard(main)
