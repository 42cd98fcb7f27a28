#!/usr/bin/env python3
"""Issue 14 item 4: `waitgraph live PID --watch` under a real terminal (tmux).

Runs a stuck service under `waitgraph run` (a lock-order deadlock between
a pool worker and a thread, a job queued behind it, a thread waiting for an
Event, an event loop awaiting the pool), then, in a detached tmux session of
its own server (120x40), runs `waitgraph live WRAPPER_PID --watch` with the
pid of the `run` wrapper, and checks on the captured screen:
  - it follows the wrapper to the traced program;
  - threads with what each waits for and for how long, the loop and its
    lag, the executor's busy and queued work, the deadlock finding;
  - it refreshes (the wait times grow);
  - `q` quits with status 0 and leaves the alternate screen (the view is
    gone from the terminal);
and that `--watch` without a terminal is refused with one line, exit 2.
The tmux server and the service are stopped by the test.

usage: test_live_watch.py --waitgraph BIN [--python PY] [--tmux BIN]
"""
import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

import wgtest

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "live_watch_service.py")
SKIP = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    ap.add_argument("--tmux", default="tmux")
    args = ap.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)
    if not shutil.which(args.tmux):
        print("SKIP: no tmux")
        return SKIP
    c = wgtest.Checker("live_watch")
    with wgtest.scratch_dir("wg-watch-") as tmp:
        env = wgtest.env_without_waitgraph()
        env.pop("XDG_RUNTIME_DIR", None)
        env["TMPDIR"] = tmp
        service = subprocess.Popen(
            [args.waitgraph, "run", "--hang-timeout", "600", "--trace", os.path.join(tmp, "svc.wgtrace"), "--",
             args.python, PROGRAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True)
        socket = "wg-watch-%d" % os.getpid()
        try:
            if c.expect(service.stdout.readline() == b"ready\n", "the service is stuck and says so"):
                check(args, env, socket, service.pid, tmp, c)
        finally:
            subprocess.run([args.tmux, "-L", socket, "kill-server"], stderr=subprocess.DEVNULL)
            wgtest.kill_group(service)
            service.wait()
    return c.finish()


def tmux(args, socket, *argv):
    return subprocess.run([args.tmux, "-L", socket] + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)


def capture(args, socket, session="watch"):
    return tmux(args, socket, "capture-pane", "-p", "-t", session).stdout.decode("utf-8", "replace")


def wait_screen(args, socket, predicate, limit=20, session="watch"):
    deadline = time.monotonic() + limit
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(args, socket, session)
        if predicate(screen):
            return screen, True
        time.sleep(0.3)
    return screen, False


def check(args, env, socket, wrapper_pid, tmp, c):
    child = [p for p in os.listdir("/proc") if p.isdigit() and open("/proc/%s/stat" % p).read().rsplit(")", 1)[1]
             .split()[1] == str(wrapper_pid)]
    command = "env TMPDIR=%s %s live %d --watch; echo WATCH-EXIT=$?; sleep 60" % (
        shlex.quote(tmp), shlex.quote(args.waitgraph), wrapper_pid)
    r = tmux(args, socket, "new-session", "-d", "-s", "watch", "-x", "120", "-y", "40", command)
    if not c.expect(r.returncode == 0, "tmux runs the view in a 120x40 session", r.stderr.decode()):
        return
    screen, ok = wait_screen(args, socket, lambda s: "FINDINGS" in s and "deadlock" in s)
    c.expect(ok, "the view shows the deadlock finding", screen)
    first = screen
    c.expect(re.search(r"waitgraph live: pid (\d+)", screen) and child and
             "pid %s " % child[0] in screen, "it follows the `run` wrapper %d to its program %s" %
             (wrapper_pid, child), screen)
    lines = screen.splitlines()
    c.expect(all(len(line) <= 120 for line in lines), "no line is wider than the terminal")
    thread = {name: next((l for l in lines if l.strip().startswith(name)), "")
              for name in ("MainThread", "audit", "pool_0", "idle-waiter")}
    c.expect(re.search(r"waits \d+\.\d s in .*Lock\.acquire", thread["audit"]) is not None,
             "thread audit: waits N s in Lock.acquire", screen)
    c.expect(re.search(r"waits \d+\.\d s in .*Lock\.acquire", thread["pool_0"]) is not None,
             "pool worker: waits N s in Lock.acquire", screen)
    c.expect(re.search(r"waits \d+\.\d s in .*Event\.wait", thread["idle-waiter"]) is not None,
             "idle-waiter: waits N s in Event.wait", screen)
    c.expect(re.search(r"loop 1 on MainThread\s+lag \d+\.\d s", screen) is not None,
             "the event loop runs on MainThread, with its lag", screen)
    c.expect(re.search(r"pool\s+busy 1/1\s+queued 1", screen) is not None,
             "the pool: busy 1 of 1, 1 job queued", screen)
    c.expect(re.search(r"error\[WG\d+\] cross-call-deadlock", screen) is not None,
             "the current findings include the deadlock", screen)

    def waited(s):
        m = re.search(r"audit\s+waits (\d+\.\d) s", s)
        return float(m.group(1)) if m else None
    later, ok = wait_screen(args, socket, lambda s: (waited(s) or 0) > (waited(first) or 0), limit=6)
    c.expect(ok, "it refreshes: audit's wait grows from %s s to %s s" % (waited(first), waited(later)), later)

    tmux(args, socket, "send-keys", "-t", "watch", "q")
    screen, ok = wait_screen(args, socket, lambda s: "WATCH-EXIT=" in s, limit=10)
    c.expect(ok and "WATCH-EXIT=0" in screen, "q quits with status 0", screen)
    c.expect("THREADS" not in screen and "FINDINGS" not in screen,
             "the view is gone: the alternate screen was left", screen)

    # Ctrl-C: the terminal is restored, then the view dies of SIGINT as it was asked.
    command = "trap '' INT; env TMPDIR=%s %s live %d --watch; echo WATCH-EXIT=$?; sleep 60" % (
        shlex.quote(tmp), shlex.quote(args.waitgraph), wrapper_pid)
    tmux(args, socket, "new-session", "-d", "-s", "again", "-x", "120", "-y", "40", command)
    screen, ok = wait_screen(args, socket, lambda s: "FINDINGS" in s, session="again")
    tmux(args, socket, "send-keys", "-t", "again", "C-c")
    screen, ok = wait_screen(args, socket, lambda s: "WATCH-EXIT=" in s, limit=10, session="again")
    c.expect(ok and "WATCH-EXIT=130" in screen and "THREADS" not in screen,
             "Ctrl-C leaves the alternate screen, then ends the view by SIGINT (status 130)", screen)

    r = wgtest.run([args.waitgraph, "live", str(wrapper_pid), "--watch"], limit=30, env=env)
    c.expect(r.returncode == 2 and "terminal" in r.stderr.decode() and
             len(r.stderr.decode().strip().splitlines()) == 2,
             "--watch without a terminal: refused, exit 2", r.describe())
    r = wgtest.run([args.waitgraph, "live", str(wrapper_pid)], limit=30, env=env)
    c.expect(r.returncode == 0 and b"cross-call-deadlock" in r.stdout and
             ("following process %s" % (child[0] if child else "?")).encode() in r.stderr,
             "`live WRAPPER_PID` reports on the program it runs", r.describe())


if __name__ == "__main__":
    wgtest.main_guard(main)
