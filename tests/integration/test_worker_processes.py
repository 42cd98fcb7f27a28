#!/usr/bin/env python3
"""Issue 15: services with worker processes, recorded and diagnosed whole.

  fork-threaded  os.fork() while other threads hold a lock, run a loop and
                 keep an executor busy: parent and child finish, with the
                 same output as without the shim; the child has a trace of
                 its own (origin "fork", its parent recorded).
  fork-exec      os.fork() then os.execvp of Python (one failed attempt on
                 PATH first): a child that only exec'd leaves one trace, its
                 exec'd program's (the forked image's trace says it was
                 superseded and is left out); a child that recorded work
                 before its exec keeps both images, one worker, one role;
                 a subprocess with a preexec_fn leaves no trace; analyze
                 DIR reads the directory the same way.
  term-flush     a forked worker with SIGTERM's default action is stopped
                 by SIGTERM microseconds after its last job: it dies of
                 SIGTERM as without the shim (its master sees the same
                 status, signal.getsignal the same SIG_DFL), and the job
                 is in its trace (the shim's handler flushes first).
  live-other-user
                 (as root) `live MASTER` on a master whose worker runs as
                 another user (setpriv) with its live pointer in that
                 user's per-user directory, and whose other worker records
                 no trace: the first is found there and its deadlock
                 reported, the second is read from its memory (attach).
  pool-fork / pool-spawn
                 multiprocessing.Pool workers doing asyncio work with a lost
                 ContextVar write: each worker's finding is reported with
                 its pid and role (worker 1, worker 2), none for the master;
                 `analyze DIR` and `check DIR` (and SARIF, the baseline)
                 keep that attribution; fingerprints are the same in both
                 workers and across runs (never a pid).
  prefork-stop / prefork-stop-tree
                 a pre-fork master whose worker 2 deadlocks, with a helper
                 process (`sleep`) of its own: --on-hang stop stops the
                 worker, the master and every recorded process, and leaves
                 the helper; stop-tree stops the helper too.
  gunicorn-deadlock
                 `waitgraph run -- gunicorn -k uvicorn.workers.UvicornWorker
                 -w 2 --bind 127.0.0.1:PORT`: /checkout deadlocks one worker;
                 run reports the deadlock in that worker (pid, role, both
                 stacks), stops the server (no process left) and exits 3.
  gunicorn-healthy
                 the same server answers a few hundred requests: `live` on
                 the master lists and diagnoses both workers, `live` on a
                 worker that worker; after SIGTERM, nothing is reported.
  uvicorn-deadlock / uvicorn-healthy
                 the same app under `python3 -m uvicorn --workers 2`
                 (uvicorn's own supervisor, which spawns its workers with
                 multiprocessing "spawn": fresh interpreters, on uvloop):
                 the same verdicts, with the supervisor as master, its
                 spawned workers as worker 1 and 2 and multiprocessing's
                 resource tracker as such.

usage: test_worker_processes.py --waitgraph BIN [--python PY] [--only NAME]
"""
import http.client
import json
import re
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "workers"))
GUNICORN = "/usr/bin/gunicorn"
LIMIT = 90.0


def beyond_startup(findings):
    """The findings, less loop-stall notes about a module imported at a
    worker's start: uvicorn's worker imports its protocol modules inside its
    serving task (on uvloop, whose thread the shim samples), and on a loaded
    machine that import passes the threshold. True, a note, not this test's."""
    return [f for f in findings
            if not (f.get("name") == "loop-stall" and f.get("severity") == "note"
                    and "importing a module" in f.get("message", ""))]


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("worker_processes")
    with wgtest.scratch_dir("wg-workers-") as tmp:
        fork_in_threaded_program(args, tmp, c)
        fork_then_exec(args, tmp, c)
        fork_then_exec_to_one_path(args, tmp, c)
        uvloop_subprocess(args, tmp, c)
        term_flush(args, tmp, c)
        live_workers_of_other_users(args, tmp, c)
        empty_directory(args, tmp, c)
        for method in ("fork", "spawn"):
            pool_workers_with_findings(args, tmp, method, c)
        for on_hang in ("stop", "stop-tree"):
            prefork_worker_deadlock(args, tmp, on_hang, c)
        if os.path.exists(GUNICORN):
            gunicorn_deadlocked_worker(args, tmp, c)
            gunicorn_healthy_under_load(args, tmp, c)
        else:
            c.fail("%s is missing: install Debian's gunicorn (scripts/dev.sh does)" % GUNICORN)
        if has_uvicorn(args):
            uvicorn_deadlocked_worker(args, tmp, c)
            uvicorn_healthy_under_load(args, tmp, c)
        else:
            c.fail("%s cannot import uvicorn: install Debian's python3-uvicorn (scripts/dev.sh does)"
                   % args.python)
    return c.finish()


def base_env(tmp):
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env["TMPDIR"] = tmp
    env["WAITGRAPH_DIR"] = os.path.join(tmp, "wgdir")
    return env


def read_json(path, what, c):
    if not c.expect(os.path.exists(path), "%s: report written" % what):
        return None
    with open(path) as f:
        return wgtest.load_json(f.read(), what, c)


def trace_dir_of(data):
    paths = [t["path"] for t in data.get("traces", [])]
    return os.path.dirname(paths[0]) if paths else None


# ---- os.fork in a threaded program ------------------------------------------

def fork_in_threaded_program(args, tmp, c):
    print("== fork-threaded: os.fork() while threads hold a lock, run a loop, keep an executor busy")
    program = os.path.join(PROGRAMS, "fork_threaded.py")
    plain = wgtest.run([args.python, program], limit=30, env=base_env(tmp))
    report = os.path.join(tmp, "fork.json")
    r = wgtest.run([args.waitgraph, "run", "--format", "json", "--report", report, "--",
                    args.python, program], limit=30, env=base_env(tmp), cwd=tmp)
    c.expect(not r.timed_out and r.returncode == 0 and r.stdout == plain.stdout,
             "fork-threaded: parent and child finish, output as without the shim",
             "without:\n%s\nwith:\n%s" % (plain.describe(), r.describe()))
    data = read_json(report, "fork-threaded", c)
    if data is None:
        return
    traces = data["traces"]
    parent = [t for t in traces if t.get("role") == "master"]
    child = [t for t in traces if t.get("role") == "worker 1"]
    c.expect(len(traces) == 2 and parent and child and child[0]["parent_pid"] == parent[0]["pid"],
             "fork-threaded: the child has its own trace, its parent recorded (master, worker 1)",
             json.dumps(traces, indent=1))
    c.expect(child and child[0]["events"] > 10, "fork-threaded: the child's trace holds its own events",
             json.dumps(traces, indent=1))
    c.expect(not data["findings"], "fork-threaded: no finding",
             json.dumps(data["findings"], indent=1)[:3000])


def fork_then_exec(args, tmp, c):
    print("== fork-exec: os.fork() then os.execvp of Python")
    program = os.path.join(PROGRAMS, "fork_exec.py")
    plain = wgtest.run([args.python, program], limit=30, env=base_env(tmp))
    report = os.path.join(tmp, "fork-exec.json")
    r = wgtest.run([args.waitgraph, "run", "--format", "json", "--report", report, "--",
                    args.python, program], limit=30, env=base_env(tmp), cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout == plain.stdout and plain.stdout.count(b"pool says 6") == 2,
             "fork-exec: the children exec and run, output as without the shim",
             "without:\n%s\nwith:\n%s" % (plain.describe(), r.describe()))
    data = read_json(report, "fork-exec", c)
    if data is None:
        return
    traces = data["traces"]
    described = json.dumps(traces, indent=1)
    parent = [t for t in traces if t["parent_pid"] not in [u["pid"] for u in traces]]
    children = {}
    for t in traces:
        if parent and t["parent_pid"] == parent[0]["pid"]:
            children.setdefault(t["pid"], []).append(t)
    images = sorted(len(v) for v in children.values())
    c.expect(len(parent) == 1 and images == [1, 2],
             "fork-exec: one trace for the child that only exec'd, two images of the one that worked first",
             described)
    if images != [1, 2]:
        return
    only_exec = next(v[0] for v in children.values() if len(v) == 1)
    worked = next(v for v in children.values() if len(v) == 2)
    c.expect(only_exec["events"] > 10 and not only_exec.get("role"),
             "fork-exec: the exec'd program's trace is the child's (no role: a program started by exec)",
             described)
    c.expect([t.get("role") for t in worked] == ["worker 1", "worker 1"]
             and parent[0].get("role") == "master",
             "fork-exec: both images of the child that worked first are worker 1 of the master", described)
    c.expect(not data["findings"] and not any("clean stop" in n for n in data["notes"]),
             "fork-exec: no finding, no trace taken for a killed one", json.dumps(data, indent=1)[:3000])
    directory = trace_dir_of(data)
    files = sorted(f for f in os.listdir(directory) if f.endswith(".wgtrace"))
    c.expect(sorted(os.path.join(directory, f) for f in files) == sorted(t["path"] for t in traces),
             "fork-exec: run removed the superseded trace from its run directory, kept the rest",
             "%s\n%s" % (files, described))
    # Recorded without `run` (nothing removes it): the superseded image's trace.
    own = os.path.join(tmp, "fork-exec-own")
    os.makedirs(own, exist_ok=True)
    env = base_env(tmp)
    env["PYTHONPATH"] = wgtest.shim_dir(args.waitgraph)
    env["WAITGRAPH_TRACE"] = os.path.join(own, "%p.wgtrace")
    p = wgtest.run([args.python, program], limit=30, env=env)
    kinds = {}
    for f in sorted(os.listdir(own)):
        with open(os.path.join(own, f), "rb") as trace:
            kinds[f] = [k for k, _ in wgtest.decode_events(trace.read())]
    superseded = [f for f, k in kinds.items() if k[-3:] == [
        "PROCESS_EXEC", "PROCESS_EXEC_FAILED", "PROCESS_EXEC"] and set(k[:-3]) <= {"THREAD_STARTED"}]
    c.expect(p.returncode == 0 and len(kinds) == 5 and len(superseded) == 1,
             "fork-exec: the forked image that only exec'd is marked superseded (PROCESS_EXEC, its "
             "failed attempt, PROCESS_EXEC) and left out", "%s\n%s" % (p.describe(), kinds))
    a = wgtest.run([args.waitgraph, "analyze", directory, "--format", "json"], limit=LIMIT)
    if c.expect(a.returncode == 0, "fork-exec: analyze DIR", a.describe()):
        offline = json.loads(a.stdout)["traces"]
        c.expect(sorted((t["path"], t.get("role", "")) for t in offline)
                 == sorted((t["path"], t.get("role", "")) for t in traces),
                 "fork-exec: analyze DIR leaves the superseded trace out too, the same roles",
                 json.dumps(offline, indent=1))


def fork_then_exec_to_one_path(args, tmp, c):
    """`run --trace FILE` (no '%p'): each process writes FILE-STEM.<pid>.wgtrace,
    and a child's exec'd image, whose pid already has that file (its forked
    image's), the next free FILE-STEM.<pid>.<n>.wgtrace. Before, the exec'd
    Python printed "cannot write trace ...: File exists" and ran unrecorded
    (found by anyio's suite: uvloop's subprocesses fork and exec)."""
    print("== fork-exec-one-path: os.fork() then os.execvp of Python, run --trace FILE")
    program = os.path.join(PROGRAMS, "fork_exec.py")
    plain = wgtest.run([args.python, program], limit=30, env=base_env(tmp))
    r, report = run_with_one_trace_path(args, tmp, "fork-exec-one-path", program)
    c.expect(r.returncode == 0 and r.stdout == plain.stdout and b"cannot write trace" not in r.stderr,
             "fork-exec-one-path: the exec'd children run as without the shim, and are not refused a trace",
             "without:\n%s\nwith:\n%s" % (plain.describe(), r.describe()))
    data = read_json(report, "fork-exec-one-path", c)
    if data is None:
        return
    exec_images = [t for t in data["traces"] if t["events"] > 10 and t["pid"] != parent_pid_of(data)]
    c.expect(len(exec_images) >= 2,
             "fork-exec-one-path: both exec'd children recorded, each in a file of its own",
             json.dumps(data["traces"], indent=1))


def uvloop_subprocess(args, tmp, c):
    """uvloop forks from C and runs Python's fork handlers in the child,
    which execs at once: that forked image is not followed (before, each one
    left a trace of 0 events, a "worker N" with a note that it never stopped
    cleanly); the exec'd Python records itself."""
    print("== uvloop-subprocess: a subprocess started on a uvloop loop")
    program = os.path.join(PROGRAMS, "uvloop_subprocess.py")
    plain = wgtest.run([args.python, program], limit=30, env=base_env(tmp))
    if not c.expect(plain.returncode == 0 and b"child ran" in plain.stdout,
                    "uvloop-subprocess: runs without the shim (python3-uvloop installed)", plain.describe()):
        return
    r, report = run_with_one_trace_path(args, tmp, "uvloop-subprocess", program)
    c.expect(r.returncode == 0 and r.stdout == plain.stdout and b"cannot write trace" not in r.stderr,
             "uvloop-subprocess: output as without the shim", "without:\n%s\nwith:\n%s" % (
                 plain.describe(), r.describe()))
    data = read_json(report, "uvloop-subprocess", c)
    if data is None:
        return
    described = json.dumps(data["traces"], indent=1)
    c.expect(len(data["traces"]) == 2 and all(t["events"] > 0 for t in data["traces"])
             and not any(t.get("role", "").startswith("worker") for t in data["traces"]),
             "uvloop-subprocess: two traces, the parent's and the exec'd child's; no empty forked image",
             described)
    c.expect(not any("clean stop" in n for n in data["notes"]),
             "uvloop-subprocess: no trace that never stopped cleanly", json.dumps(data["notes"], indent=1))


def run_with_one_trace_path(args, tmp, name, program):
    """`run --trace <tmp>/<name>/t.wgtrace --format json` of `program`: every
    process of it is given the same trace path. Returns the result and the
    report's path."""
    out = os.path.join(tmp, name)
    os.makedirs(out, exist_ok=True)
    report = os.path.join(tmp, name + ".json")
    r = wgtest.run([args.waitgraph, "run", "--trace", os.path.join(out, "t.wgtrace"), "--format", "json",
                    "--report", report, "--", args.python, program], limit=30, env=base_env(tmp), cwd=tmp)
    return r, report


def parent_pid_of(data):
    pids = [t["pid"] for t in data["traces"]]
    parents = [t["pid"] for t in data["traces"] if t["parent_pid"] not in pids]
    return parents[0] if parents else None


def term_flush(args, tmp, c):
    print("== term-flush: a worker killed by SIGTERM right after its last job")
    program = os.path.join(PROGRAMS, "term_after_event.py")
    plain = wgtest.run([args.python, program], limit=30, env=base_env(tmp))
    report = os.path.join(tmp, "term-flush.json")
    r = wgtest.run([args.waitgraph, "run", "--format", "json", "--report", report, "--",
                    args.python, program], limit=30, env=base_env(tmp), cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout == plain.stdout
             and b"worker ended by SIGTERM" in plain.stdout,
             "term-flush: the worker dies of SIGTERM, output (its handler, its status) as without the shim",
             "without:\n%s\nwith:\n%s" % (plain.describe(), r.describe()))
    data = read_json(report, "term-flush", c)
    if data is None:
        return
    workers = [t for t in data["traces"] if t.get("role") == "worker 1"]
    names = []
    if len(workers) == 1:
        with open(workers[0]["path"], "rb") as f:
            names = [name for kind, name in wgtest.decode_events(f.read()) if kind == "THREAD_STARTED"]
    c.expect("last-job" in names, "term-flush: the worker's last job reached its trace",
             "%s\n%s" % (json.dumps(data["traces"], indent=1), names))


def live_workers_of_other_users(args, tmp, c):
    print("== live-other-user: live MASTER with a worker of another user and one without a trace")
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"):
        c.ok("live-other-user: skipped (needs root and setpriv to start a worker as another user)")
        return
    uid = 65534  # nobody
    os.chmod(tmp, 0o711)  # the other user reaches its directories below
    shared = os.path.join(tmp, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)  # its TMPDIR: it makes its own per-user directory there
    theirs = os.path.join(shared, "their-traces")
    os.mkdir(theirs, 0o700)
    os.chown(theirs, uid, uid)
    ours = os.path.join(tmp, "master-traces")
    os.mkdir(ours, 0o700)
    env = dict(base_env(tmp), TMPDIR=shared, PYTHONPATH=wgtest.shim_dir(args.waitgraph),
               WAITGRAPH_TRACE=os.path.join(ours, "%p.wgtrace"))
    proc = subprocess.Popen([args.python, os.path.join(PROGRAMS, "workers_as_other_user.py"), str(uid),
                             os.path.join(theirs, "%p.wgtrace")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp,
                            start_new_session=True)
    try:
        lines = [proc.stdout.readline().decode() for _ in range(3)]
        master = [l for l in lines if l.startswith("master ")]
        if not c.expect(len(master) == 1 and sum("deadlocked" in l for l in lines) == 2,
                        "live-other-user: the master and both workers are up", "".join(lines)):
            return
        other, plain = (int(w) for w in master[0].split()[-2:])
        r = wgtest.run([args.waitgraph, "live", master[0].split()[1].rstrip(":"), "--format", "json"],
                       limit=60, env=dict(base_env(tmp), TMPDIR=shared))
        if not c.expect(r.returncode == 0, "live-other-user: live MASTER", r.describe()):
            return
        data = json.loads(r.stdout)
        described = json.dumps(data, indent=1)[:5000]
        by_pid = {t["pid"]: t for t in data["traces"]}
        c.expect(other in by_pid and by_pid[other]["path"].startswith(theirs + os.sep),
                 "live-other-user: the other user's worker is read from its own trace", described)
        deadlocks = [f for f in data["findings"] if f["name"] == "cross-call-deadlock"]
        c.expect(other in [f.get("pid") for f in deadlocks],
                 "live-other-user: its deadlock is reported with its pid", described)
        c.expect(plain in by_pid and any("records no trace" in n and str(plain) in n for n in data["notes"]),
                 "live-other-user: the worker without a trace is read from its memory", described)
    finally:
        wgtest.kill_group(proc)
        proc.communicate()


def empty_directory(args, tmp, c):
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    r = wgtest.run([args.waitgraph, "check", empty], limit=30)
    c.expect(r.returncode == 2 and r.stderr.count(b"\n") == 1 and b"no *.wgtrace" in r.stderr,
             "check EMPTY_DIR: exit 2 and one line saying so", r.describe())


# ---- multiprocessing.Pool ---------------------------------------------------

def pool_workers_with_findings(args, tmp, method, c):
    what = "pool-%s" % method
    print("== %s: Pool workers with asyncio work and a lost ContextVar write" % what)
    program = os.path.join(PROGRAMS, "pool_async_findings.py")
    report = os.path.join(tmp, "%s.json" % what)
    r = wgtest.run([args.waitgraph, "run", "--format", "json", "--report", report, "--",
                    args.python, program, method], limit=LIMIT, env=base_env(tmp), cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout == b"[None, None]\nparent done\n",
             "%s: the program ran as without the shim" % what, r.describe())
    data = read_json(report, what, c)
    if data is None:
        return
    by_pid = {t["pid"]: t for t in data["traces"]}
    workers = {t["pid"] for t in data["traces"] if t.get("role", "").startswith("worker ")}
    lost = [f for f in data["findings"] if f["name"] == "lost-context-write"]
    c.expect(len(workers) == 2 and {f.get("pid") for f in lost} == workers and len(lost) == 2,
             "%s: each worker's lost-context-write is reported, with its pid" % what,
             json.dumps({"traces": data["traces"], "findings": lost}, indent=1)[:4000])
    c.expect(sorted(f.get("role") for f in lost) == ["worker 1", "worker 2"],
             "%s: findings tagged worker 1 and worker 2" % what, json.dumps(lost, indent=1)[:3000])
    masters = [t for t in data["traces"] if t.get("role") == "master"]
    c.expect(len(masters) == 1 and all(by_pid[p]["parent_pid"] == masters[0]["pid"] for p in workers),
             "%s: the parent is the master of both workers" % what, json.dumps(data["traces"], indent=1))
    if masters:
        # A spawned worker runs `python -c "from multiprocessing.spawn import ..."`: shown as
        # the parent's program it runs, the resource tracker by name; never `-c`.
        want = {p: masters[0].get("program") for p in workers}
        helpers = {t["pid"]: "multiprocessing.resource_tracker" for t in data["traces"]
                   if t.get("role") == "resource tracker"}
        want.update(helpers)
        got = {t["pid"]: t.get("program") for t in data["traces"] if t["pid"] in want}
        c.expect(got == want and (method == "fork" or len(helpers) == 1),
                 "%s: workers show the master's program, helpers what they run, none `-c`" % what,
                 json.dumps(data["traces"], indent=1))
    c.expect(len({f["fingerprint"] for f in lost}) == 1,
             "%s: the same finding has the same fingerprint in both workers" % what,
             json.dumps(lost, indent=1)[:3000])
    c.expect(not [f for f in data["findings"] if f["name"] != "lost-context-write"],
             "%s: nothing else reported" % what, json.dumps(data["findings"], indent=1)[:3000])
    directory = trace_dir_of(data)
    if directory:
        offline_reports_of_a_run_dir(args, directory, lost, what, tmp, c)


def offline_reports_of_a_run_dir(args, directory, live_findings, what, tmp, c):
    a = wgtest.run([args.waitgraph, "analyze", directory, "--format", "json"], limit=LIMIT)
    if c.expect(a.returncode == 0, "%s: analyze DIR reads the run directory" % what, a.describe()):
        data = json.loads(a.stdout)
        lost = [f for f in data["findings"] if f["name"] == "lost-context-write"]
        c.expect(sorted((f.get("pid"), f.get("role")) for f in lost)
                 == sorted((f.get("pid"), f.get("role")) for f in live_findings),
                 "%s: analyze DIR keeps each finding's process and role" % what,
                 json.dumps(lost, indent=1)[:3000])
    text = wgtest.run([args.waitgraph, "analyze", directory], limit=LIMIT,
                      env=dict(os.environ, COLUMNS="1000"))
    # Each trace's findings come under its summary line, which names the
    # process and its role: two workers' lines count a finding.
    headings = re.findall(rb"^trace .*, process \d+ \(.*worker \d+.*\): .*\b[1-9]\d* (?:error|warning|note)",
                          text.stdout, re.M)
    c.expect(text.returncode == 0 and len(headings) == 2,
             "%s: analyze DIR (text) names the worker of each finding" % what, text.describe())
    page = os.path.join(tmp, "%s-report.html" % what)
    h = wgtest.run([args.waitgraph, "report", directory, "--format", "html", "--output", page], limit=LIMIT)
    if c.expect(h.returncode == 0, "%s: report DIR writes one page" % what, h.describe()):
        with open(page, encoding="utf-8") as f:
            html = f.read()
        c.expect(all(r in html for r in ("(master)", "(worker 1)", "(worker 2)"))
                 and html.count("lost-context-write") >= 2,
                 "%s: report DIR has a section per process, each worker's finding in it" % what, html[:2000])
    baseline = os.path.join(tmp, "%s-baseline.json" % what)
    k = wgtest.run([args.waitgraph, "check", directory, "--write-baseline", baseline], limit=LIMIT)
    c.expect(k.returncode == 1, "%s: check DIR fails on the workers' warnings" % what, k.describe())
    k = wgtest.run([args.waitgraph, "check", directory, "--baseline", baseline], limit=LIMIT)
    c.expect(k.returncode == 0, "%s: check DIR --baseline passes (fingerprints hold)" % what, k.describe())
    s = wgtest.run([args.waitgraph, "check", directory, "--format", "sarif", "--fail-on", "never"],
                   limit=LIMIT)
    if c.expect(s.returncode == 0, "%s: check DIR --format sarif" % what, s.describe()):
        results = json.loads(s.stdout)["runs"][0]["results"]
        roles = sorted(r["properties"].get("processRole", "") for r in results)
        c.expect(roles == ["worker 1", "worker 2"], "%s: SARIF results carry the process role" % what,
                 json.dumps(results, indent=1)[:3000])
    if what == "pool-fork":
        # A second run: other pids, the same fingerprints.
        report = os.path.join(tmp, "again.json")
        wgtest.run([args.waitgraph, "run", "--format", "json", "--report", report, "--", args.python,
                    os.path.join(PROGRAMS, "pool_async_findings.py"), "fork"],
                   limit=LIMIT, env=base_env(tmp), cwd=tmp)
        again = read_json(report, "pool-fork again", c) or {"findings": []}
        c.expect({f["fingerprint"] for f in again["findings"]} == {f["fingerprint"] for f in live_findings}
                 and {f.get("pid") for f in again["findings"]} != {f.get("pid") for f in live_findings},
                 "pool-fork: another run (other pids) gives the same fingerprints",
                 json.dumps(again["findings"], indent=1)[:3000])


# ---- --on-hang stop | stop-tree -----------------------------------------------

def prefork_worker_deadlock(args, tmp, on_hang, c):
    what = "prefork-" + on_hang
    print("== %s: a pre-fork master's worker 2 deadlocks" % what)
    report = os.path.join(tmp, what + ".json")
    r = wgtest.run([args.waitgraph, "run", "--hang-timeout", "1", "--on-hang", on_hang, "--format", "json",
                    "--report", report, "--", args.python, os.path.join(PROGRAMS, "prefork_deadlock.py")],
                   limit=LIMIT, env=base_env(tmp), cwd=tmp)
    # (Not at the time limit: a helper holding our pipe once made it look fine.)
    c.expect(r.returncode == 3 and not r.timed_out, "%s: run exits 3" % what, r.describe())
    data = read_json(report, what, c) or {"findings": [], "traces": []}
    found = [f for f in data["findings"] if f["name"] == "cross-call-deadlock"]
    c.expect(len(found) == 1 and found[0].get("role") == "worker 2",
             "%s: the deadlock is reported in worker 2" % what, json.dumps(data, indent=1)[:4000])
    left = [t["pid"] for t in data["traces"] if alive(t["pid"])]
    c.expect(not left, "%s: no recorded process left" % what, str(left))
    helper = [int(line.split()[1]) for line in r.stdout.decode().splitlines() if line.startswith("helper ")]
    if not c.expect(len(helper) == 1, "%s: the helper started" % what, r.describe()):
        return
    time.sleep(0.2)
    helper_alive = alive(helper[0])
    if on_hang == "stop":
        c.expect(helper_alive, "stop: the master's non-Python helper is left to the master", str(helper))
    else:
        c.expect(not helper_alive, "stop-tree: every process below the program is stopped", str(helper))
    if helper_alive:
        os.kill(helper[0], signal.SIGKILL)


# ---- gunicorn with uvicorn workers ------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def wait_until_serving(port, proc, limit=30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return get(port, "/pid", timeout=2)
        except OSError:
            time.sleep(0.1)
    return None


def has_uvicorn(args):
    return wgtest.run([args.python, "-c", "import uvicorn"], limit=30).returncode == 0


# The servers, each with the roles its processes must get: gunicorn's
# arbiter forks its workers; uvicorn's supervisor spawns them (fresh
# interpreters: multiprocessing "spawn"), which starts multiprocessing's
# resource tracker too.
SERVER_ROLES = {
    "gunicorn": ["master", "worker 1", "worker 2"],
    "uvicorn": ["master", "resource tracker", "worker 1", "worker 2"],
}


def server_command(args, kind, tmp, port):
    if kind == "gunicorn":
        return [GUNICORN, "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "--bind", "127.0.0.1:%d" % port,
                "--pid", os.path.join(tmp, "gunicorn-%d.pid" % port), "--chdir", PROGRAMS,
                "gunicorn_app:app"]
    return [args.python, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
            "--app-dir", PROGRAMS, "gunicorn_app:app"]


def start_server(args, tmp, port, report, extra=(), kind="gunicorn"):
    cmd = [args.waitgraph, "run", "--format", "json", "--report", report, *extra, "--",
           *server_command(args, kind, tmp, port)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=base_env(tmp),
                            cwd=tmp, start_new_session=True)


def master_pid(kind, tmp, port, proc):
    """gunicorn writes its pid file; uvicorn's supervisor is the program
    `waitgraph run` started."""
    if kind == "gunicorn":
        with open(os.path.join(tmp, "gunicorn-%d.pid" % port)) as f:
            return int(f.read().strip())
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        return int(f.read().split()[0])


def finish(proc, limit):
    try:
        out, err = proc.communicate(timeout=limit)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        wgtest.kill_group(proc)
        out, err = proc.communicate()
        return proc.returncode, out, err, True


def alive(pid):
    """The process exists and is not a zombie (a process reparented to an
    init that has not reaped it yet has ended all the same)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def describe(rc, out, err, timed_out):
    return "exit %s%s\n--- stdout\n%s\n--- stderr\n%s" % (
        rc, " (KILLED: wall-clock limit)" if timed_out else "",
        out.decode("utf-8", "replace")[-3000:], err.decode("utf-8", "replace")[-6000:])


def gunicorn_deadlocked_worker(args, tmp, c):
    server_deadlocked_worker(args, tmp, "gunicorn", c)


def uvicorn_deadlocked_worker(args, tmp, c):
    server_deadlocked_worker(args, tmp, "uvicorn", c)


def server_deadlocked_worker(args, tmp, kind, c):
    what = kind + "-deadlock"
    print("== %s: one worker deadlocks in /checkout" % what)
    port = free_port()
    report = os.path.join(tmp, what + ".json")
    proc = start_server(args, tmp, port, report, ("--hang-timeout", "2"), kind=kind)
    first = wait_until_serving(port, proc)
    if not c.expect(first is not None, "%s: the server answers under waitgraph run" % what):
        wgtest.kill_group(proc)
        return
    for _ in range(20):
        get(port, "/quote")
    hung = []
    threading.Thread(target=lambda: hung.append(_try_get(port, "/checkout", 60)), daemon=True).start()
    start = time.monotonic()
    rc, out, err, timed_out = finish(proc, LIMIT)
    output = describe(rc, out, err, timed_out)
    c.expect(rc == 3 and not timed_out, "%s: run exits 3 (after %.1f s)"
             % (what, time.monotonic() - start), output)
    data = read_json(report, what, c)
    if data is None:
        return
    roles = {t["pid"]: t.get("role", "") for t in data["traces"]}
    deadlocks = [f for f in data["findings"] if f["name"] == "cross-call-deadlock"]
    ok = c.expect(len(deadlocks) == 1, "%s: one cross-call-deadlock" % what,
                  json.dumps(data, indent=1)[:5000])
    if ok:
        d = deadlocks[0]
        c.expect(roles.get(d.get("pid"), "").startswith("worker ") and d.get("role") == roles[d["pid"]],
                 "%s: reported in a worker, with its pid and role (%s, %s)"
                 % (what, d.get("pid"), d.get("role")), json.dumps(data["traces"], indent=1))
        stacks = [r for r in d["related"] if r["stack"]]
        funcs = {loc["function"] for r in stacks for loc in r["stack"]}
        c.expect(len(stacks) >= 2 and "checkout" in funcs and "refresh_prices" in funcs,
                 "%s: both stacks (checkout waits, refresh_prices blocks)" % what,
                 json.dumps(d, indent=1)[:4000])
        c.expect(any("has been stopped" in n and str(d["pid"]) in n for n in data["notes"]),
                 "%s: a note says which process was stopped" % what, "\n".join(data["notes"]))
    # (A replacement worker may start before the server is stopped.)
    c.expect(set(SERVER_ROLES[kind]) <= set(roles.values()) and list(roles.values()).count("master") == 1,
             "%s: the server's processes have their roles (%s)" % (what, ", ".join(SERVER_ROLES[kind])),
             json.dumps(data["traces"], indent=1))
    time.sleep(0.5)
    left = [p for p in roles if alive(p)]
    c.expect(not left, "%s: the server is stopped, no process left" % what, str(left))
    for p in left:
        os.kill(p, signal.SIGKILL)


def _try_get(port, path, timeout):
    try:
        return get(port, path, timeout)
    except OSError as e:
        return e


def gunicorn_healthy_under_load(args, tmp, c):
    server_healthy_under_load(args, tmp, "gunicorn", c)


def uvicorn_healthy_under_load(args, tmp, c):
    server_healthy_under_load(args, tmp, "uvicorn", c)


def server_healthy_under_load(args, tmp, kind, c):
    what = kind + "-healthy"
    print("== %s: a healthy 2-worker server under load" % what)
    port = free_port()
    report = os.path.join(tmp, what + ".json")
    proc = start_server(args, tmp, port, report, kind=kind)
    if not c.expect(wait_until_serving(port, proc) is not None,
                    "%s: the server answers under waitgraph run" % what):
        wgtest.kill_group(proc)
        return
    errors, pids = [], set()

    def client(n):
        for i in range(n):
            try:
                path = "/quote" if i % 2 else "/pid"
                body = get(port, path)
                if path == "/pid":
                    pids.add(int(body))
            except OSError as e:
                errors.append(e)

    clients = [threading.Thread(target=client, args=(75,)) for _ in range(4)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    c.expect(not errors, "%s: 300 requests answered" % what, repr(errors[:3]))
    master = master_pid(kind, tmp, port, proc)
    live = wgtest.run([args.waitgraph, "live", str(master), "--format", "json"], limit=30,
                      env=base_env(tmp))
    if c.expect(live.returncode == 0, "%s: live MASTER" % what, live.describe()):
        data = json.loads(live.stdout)
        roles = sorted(t.get("role", "") for t in data["traces"])
        c.expect(roles == SERVER_ROLES[kind] and not beyond_startup(data["findings"]),
                 "%s: live MASTER lists and diagnoses both workers" % what,
                 json.dumps(data, indent=1)[:3000])
    text = wgtest.run([args.waitgraph, "live", str(master)], limit=30, env=base_env(tmp))
    # One "process PID, worker N ...:" heading per worker above what it waits for.
    headings = re.findall(rb"^process \d+, worker \d+", text.stdout, re.M)
    c.expect(text.returncode == 0 and len(headings) == 2,
             "%s: live MASTER (text) names each worker" % what, text.describe())
    if pids:
        worker = sorted(pids)[0]
        one = wgtest.run([args.waitgraph, "live", str(worker), "--format", "json"], limit=30,
                         env=base_env(tmp))
        traces = json.loads(one.stdout)["traces"] if one.returncode == 0 else []
        c.expect([t["pid"] for t in traces] == [worker], "%s: live WORKER is that worker" % what,
                 one.describe())
    os.killpg(proc.pid, 0)  # still there
    proc.send_signal(signal.SIGTERM)  # forwarded to gunicorn: a graceful stop
    rc, out, err, timed_out = finish(proc, LIMIT)
    c.expect(rc == 0 and not timed_out, "%s: stops with exit 0 on SIGTERM" % what,
             describe(rc, out, err, timed_out))
    data = read_json(report, what, c)
    if data is None:
        return
    c.expect(not beyond_startup(data["findings"]), "%s: nothing reported" % what,
             json.dumps(data["findings"], indent=1)[:4000])
    roles = sorted(t.get("role", "") for t in data["traces"])
    c.expect(roles == SERVER_ROLES[kind], "%s: every process recorded, with its role (%s)"
             % (what, ", ".join(SERVER_ROLES[kind])),
             json.dumps(data["traces"], indent=1))


if __name__ == "__main__":
    wgtest.main_guard(main)
