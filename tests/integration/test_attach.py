#!/usr/bin/env python3
"""`waitgraph attach`: real programs started WITHOUT the shim, read from outside.

  - the asgiref seed hang (testdata/cases/asgiref_cancelled_request_deadlock),
    plain /usr/bin/python3: the cross-call deadlock with both stacks and the
    user's lines, exit 3; the program is left as it was (still hung, not
    stopped, the same stacks when read again); --trace writes a trace that
    `analyze` reads to the same finding; JSON output;
  - the same hung program through gdb's `gcore` and `attach --core`;
  - a pool starved by its own work, an RLock ABBA, a Lock ABBA (nothing can
    move: a Lock names no owner), asyncio tasks in an asyncio.Lock ABBA and
    awaiting an Event nobody can set, each beside a negative twin (a
    saturated pool, an RLock held by a sleeping thread, a loop listening on
    127.0.0.1) that must stay silent;
  - a healthy service with parked threads: exit 0, no finding, and every
    thread's stack as faulthandler.dump_traceback prints it in that process;
  - a PID that is not CPython (exit 2), one that does not exist (exit 5), a
    process that exits while being read (exit 5), bad usage (exit 2).

usage: test_attach.py --waitgraph BIN [--python PY]
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SEED = os.path.join(ROOT, "testdata", "cases", "asgiref_cancelled_request_deadlock", "program.py")
PARKED = os.path.join(HERE, "programs", "attach_parked_service.py")
EXITS = os.path.join(HERE, "programs", "attach_exits_soon.py")
CASES = os.path.join(ROOT, "testdata", "cases")

# (program, line it prints when ready, expected exit, what the report must name)
HUNG_AND_TWINS = [
    (os.path.join(CASES, "pool_self_starvation", "program.py"), "submitted", 3,
     ["executor-starvation", "executor 'reports'", "program.py:21 in build_report", "2 items queued"]),
    (os.path.join(HERE, "programs", "attach_pool_saturated.py"), "submitted", 0, []),
    (os.path.join(CASES, "rlock_abba_deadlock", "program.py"), "start", 3,
     ["cross-call-deadlock", "alice-pays waits in Account.transfer_to → RLock.acquire", "held by bob-pays",
      "program.py:22 in Account.transfer_to"]),
    (os.path.join(HERE, "programs", "attach_lock_held_by_sleeper.py"), "waiting", 0, []),
    (os.path.join(CASES, "lock_abba_deadlock", "program.py"), "start", 3,
     ["nothing-can-move", "transfer waits in transfer → Lock.acquire", "audit waits in audit → Lock.acquire"]),
    # asyncio tasks of an idle loop: an asyncio.Lock ABBA (owners from the
    # tasks' suspended frames), an Event nobody can set, and the twin whose
    # loop listens on 127.0.0.1 (a client may still come: silent).
    (os.path.join(CASES, "async_lock_abba_tasks", "program.py"), None, 3,
     ["cross-call-deadlock", "task debit waits in transfer → Lock.acquire for an asyncio.Lock held by task credit",
      "program.py:9 in transfer"]),
    (os.path.join(CASES, "async_event_nobody_sets", "program.py"), None, 3,
     ["nothing-can-move", "waits in main → Event.wait"]),
    (os.path.join(CASES, "async_event_listening_server", "program.py"), None, 0, []),
]
CRASH_SIGNS = (b"Traceback", b"terminate called", b"Segmentation fault", b"Aborted", b"core dumped")


class Target:
    """A program started without the shim, in its own process group, killed at the end."""

    def __init__(self, argv, ready_line, limit=10):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=wgtest.env_without_waitgraph(),
                                     start_new_session=True)
        self.ready = ready_line is None  # None: the program prints nothing flushed; the polling attach waits
        deadline = time.monotonic() + (0 if self.ready else limit)
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if ready_line in line.decode("utf-8", "replace"):
                self.ready = True
                break

    @property
    def pid(self):
        return self.proc.pid

    def state(self):
        """The process state letter from /proc (S sleeping, T stopped, ...)."""
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None

    def kill(self):
        wgtest.kill_group(self.proc)
        self.proc.communicate()


def attach(args, *extra, limit=30):
    # The report wraps to COLUMNS (80 on a pipe): wide enough here that each
    # "file:line in function" the checks look for stays on one line.
    os.environ["COLUMNS"] = "400"
    return wgtest.run([args.waitgraph, "attach"] + [str(a) for a in extra], limit)


def no_crash(c, r, what):
    c.expect(not r.timed_out and not any(s in r.stderr for s in CRASH_SIGNS), what + ": no crash or hang",
             r.describe())


def stacks_section(text):
    """The thread-stacks part of the text report (before the findings)."""
    return text.split("\nerror[", 1)[0].split("\nwaitgraph:", 1)[0]


def seed_deadlock(args, tmp, c):
    t = Target([args.python, SEED], "client disconnected")
    try:
        if not c.expect(t.ready, "the seed program started and cancelled its request"):
            return
        # The worker finishes its 0.4 s session lookup, then the cycle is complete.
        r = None
        for _ in range(20):
            time.sleep(0.25)
            r = attach(args, t.pid)
            if r.returncode == 3:
                break
        out = r.stdout.decode("utf-8", "replace")
        no_crash(c, r, "attach to the seed")
        c.expect(r.returncode == 3, "attach exits 3 on the hung seed", r.describe())
        for needle in ("cross-call-deadlock", "MainThread", "ThreadPoolExecutor-1_0",
                       "ThreadSensitiveContext.__aexit__ → ThreadPoolExecutor.shutdown",
                       "CurrentThreadExecutor.run_until_future", "program.py:34 in handle_request",
                       "program.py:30 in session_middleware", "program.py:51 in <module>",
                       "that loop runs only on MainThread"):
            c.expect(needle in out, "the report names %r" % needle, r.describe())
        c.expect(t.state() in ("S", "D"), "the program is still there, not stopped (state %s)" % t.state())
        again = attach(args, t.pid)
        c.expect(again.returncode == 3 and stacks_section(again.stdout.decode()) .split("\n", 1)[1] ==
                 stacks_section(out).split("\n", 1)[1],
                 "read again, the program shows the same stacks (left untouched, still hung)", again.describe())

        trace = os.path.join(tmp, "seed.wgtrace")
        r = attach(args, t.pid, "--trace", trace, "--format", "json")
        no_crash(c, r, "attach --trace --format json")
        report = wgtest.load_json(r.stdout, "attach --format json", c) or {}
        names = [f.get("name") for f in report.get("findings", [])]
        c.expect(r.returncode == 3 and names.count("cross-call-deadlock") == 1,
                 "JSON: one cross-call-deadlock, exit 3", r.describe())
        a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], 30)
        analyzed = wgtest.load_json(a.stdout, "analyze of the attach trace", c) or {}
        c.expect([f.get("name") for f in analyzed.get("findings", [])] == names,
                 "`analyze` of the --trace file finds the same", a.describe())
        c.expect(attach(args, t.pid, "--trace", trace).returncode == 4,
                 "--trace never overwrites an existing file (exit 4)")

        r = attach(args, t.pid, "--samples", 3, "--interval", 0.2)
        c.expect(r.returncode == 3 and b"held in all 3 snapshots" in r.stdout,
                 "--samples 3: the deadlock held in every snapshot", r.describe())

        r = wgtest.run([args.waitgraph, "live", str(t.pid)], 30)
        c.expect(r.returncode == 3 and b"cross-call-deadlock" in r.stdout and b"reading its memory" in r.stderr,
                 "`waitgraph live PID` without a shim trace reads the process as attach does", r.describe())

        core_file(args, tmp, t, c)
    finally:
        t.kill()


def core_file(args, tmp, t, c):
    gcore = shutil.which("gcore")
    if not c.expect(gcore is not None, "gdb's gcore is installed (scripts/dev.sh installs gdb)"):
        return
    prefix = os.path.join(tmp, "core")
    g = wgtest.run([gcore, "-o", prefix, str(t.pid)], 120)
    core = "%s.%d" % (prefix, t.pid)
    if not c.expect(os.path.exists(core), "gcore wrote a core file", g.describe()):
        return
    r = attach(args, "--core", core)
    out = r.stdout.decode("utf-8", "replace")
    no_crash(c, r, "attach --core")
    c.expect(r.returncode == 3 and "cross-call-deadlock" in out and "program.py:30 in session_middleware" in out,
             "attach --core: the same deadlock from the core file, exit 3", r.describe())
    r = attach(args, "--core", core, "--exe", "/usr/bin/python3.11")
    c.expect(r.returncode == 3, "attach --core --exe PATH reads the same", r.describe())
    os.unlink(core)
    r = attach(args, "--core", SEED)
    c.expect(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1,
             "a file that is no core file: exit 2, one line", r.describe())


FAULTHANDLER_THREAD = re.compile(r"^(?:Current )?[Tt]hread 0x[0-9a-f]+")
FAULTHANDLER_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')
ATTACH_THREAD = re.compile(r"^thread \d+ ")
ATTACH_FRAME = re.compile(r'^  File "(.*)", line (\d+|\?\?\?) in (.*)$')


def parse_stacks(text, thread_re, frame_re, qualname):
    stacks, current = [], None
    for line in text.splitlines():
        if thread_re.match(line):
            current = []
            stacks.append(current)
        elif current is not None and frame_re.match(line):
            path, lineno, func = frame_re.match(line).groups()
            current.append((path, lineno, func.rsplit(".", 1)[-1] if qualname else func))
    return sorted(tuple(s) for s in stacks)


def healthy_service(args, tmp, c):
    dump = os.path.join(tmp, "faulthandler.txt")
    t = Target([args.python, PARKED, dump], "parked")
    try:
        if not c.expect(t.ready, "the parked service started"):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (os.path.exists(dump) and os.path.getsize(dump) > 0):
            time.sleep(0.05)
        time.sleep(0.2)
        r = attach(args, t.pid)
        no_crash(c, r, "attach to a healthy service")
        out = r.stdout.decode("utf-8", "replace")
        c.expect(r.returncode == 0 and "error[" not in out and "warning[" not in out,
                 "healthy service: exit 0, no finding", r.describe())
        for name in ("MainThread", "consumer", "watcher", "joiner", "sleeper", "loop", "idle-pool_0"):
            c.expect(re.search(r"^thread \d+ %s" % re.escape(name), out, re.M) is not None,
                     "thread %r is named as threading names it" % name, out)
        with open(dump) as f:
            expected = parse_stacks(f.read(), FAULTHANDLER_THREAD, FAULTHANDLER_FRAME, qualname=False)
        got = parse_stacks(stacks_section(out), ATTACH_THREAD, ATTACH_FRAME, qualname=True)
        c.expect(len(expected) >= 8 and got == expected,
                 "every thread's stack (file, line, function) is what faulthandler dumped in that process",
                 "faulthandler:\n%s\nattach:\n%s" % ("\n".join(map(str, expected)), "\n".join(map(str, got))))
    finally:
        t.kill()


def not_python_and_gone(args, tmp, c):
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        r = attach(args, sleeper.pid)
        no_crash(c, r, "attach to sleep(1)")
        c.expect(r.returncode == 2 and b"not a CPython process" in r.stderr and
                 len(r.stderr.strip().splitlines()) == 1,
                 "a PID that is not CPython: exit 2, one line saying so", r.describe())
    finally:
        sleeper.kill()
        sleeper.wait()
    r = attach(args, sleeper.pid)
    c.expect(r.returncode == 5 and b"does not exist" in r.stderr, "a PID that does not exist: exit 5", r.describe())
    for bad in ([], ["abc"], ["1", "2"], ["1", "--samples", "0"], ["--exe", "/bin/sh", "1"], ["1", "--format", "x"]):
        r = attach(args, *bad)
        c.expect(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1,
                 "bad usage %r: exit 2, one line" % (bad,), r.describe())

    # Another CPython version (pyenv's, if the machine has one): refused, exit 2.
    others = sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3") +
                    glob.glob("/usr/bin/python3.1[2-9]"))
    if others:
        other = subprocess.Popen([others[0], "-c", "import time; time.sleep(30)"], start_new_session=True)
        try:
            time.sleep(0.5)
            r = attach(args, other.pid)
            c.expect(r.returncode == 2 and b"has layout tables for 3.11" in r.stderr and
                     len(r.stderr.strip().splitlines()) == 1,
                     "%s: a version without a table is refused, exit 2, one line" % others[0], r.describe())
        finally:
            other.kill()
            other.wait()
    else:
        print("skip: no CPython 3.12+ on this machine for the version check")

    t = Target([args.python, EXITS, "0.6"], "started")
    try:
        r = attach(args, t.pid, "--samples", 20, "--interval", 0.1)
        no_crash(c, r, "attach to a process that exits")
        c.expect(r.returncode == 5 and b"exited while being read" in r.stderr,
                 "a process that exits while being read: exit 5, said so", r.describe())
    finally:
        t.kill()


def hung_and_twins(args, c):
    for program, ready, expected, needles in HUNG_AND_TWINS:
        what = os.path.relpath(program, ROOT)
        t = Target([args.python, program], ready)
        try:
            if not c.expect(t.ready, "%s started" % what):
                continue
            r = None
            for _ in range(40):  # until the program has settled into its state
                time.sleep(0.25)
                r = attach(args, t.pid)
                if r.returncode == expected and r.returncode in (0, 3):
                    break
            no_crash(c, r, "attach to %s" % what)
            out = r.stdout.decode("utf-8", "replace")
            if expected == 0:
                c.expect(r.returncode == 0 and "error[" not in out and "warning[" not in out,
                         "%s: no finding, exit 0" % what, r.describe())
            else:
                c.expect(r.returncode == 3 and all(n in out for n in needles),
                         "%s: exit 3, the report names %s" % (what, needles), r.describe())
        finally:
            t.kill()


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("attach")
    with wgtest.scratch_dir("wg-attach-") as tmp:
        seed_deadlock(args, tmp, c)
        healthy_service(args, tmp, c)
        hung_and_twins(args, c)
        not_python_and_gone(args, tmp, c)
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
