#!/usr/bin/env python3
"""Issue 13 item 3: a child Python process never overwrites its parent's
trace, and `run` reports every process of the run.

  1. `waitgraph run -- sh -c "python a.py; python b.py"`: a.py (a
     context-not-propagated warning) and b.py (its healthy twin) each get
     their own trace; the report has a.py's finding, attributed to a.py's
     process, and no corruption note.
  2. The same with `--trace PATH`: PATH is the first process's trace, the
     other's is PATH-STEM.<pid>.wgtrace beside it.
  3. A process of the run deadlocks and dies (SIGKILL) while its sibling
     runs on: the dead process's deadlock is reported at the end, the
     sibling is not stopped as if it were the one hung.
  4. A parent recording under a fixed WAITGRAPH_TRACE starts a child with
     another TMPDIR: the parent's trace stays whole (it used to be
     overwritten); each process has its own trace, with its parent recorded.

usage: test_child_processes.py --waitgraph BIN [--python PY]
"""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "..", "testdata", "cases")
A = os.path.abspath(os.path.join(CASES, "ctx_run_in_executor_no_copy", "program.py"))
B = os.path.abspath(os.path.join(CASES, "ctx_run_in_executor_copy_context", "program.py"))
PARENT = os.path.join(HERE, "programs", "spawns_child_with_other_tmpdir.py")
STARVE_THEN_DIE = os.path.join(HERE, "programs", "starve_then_die.py")
FINDING = "context-not-propagated"
LIMIT = 60.0


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("child_processes")
    with wgtest.scratch_dir("wg-children-") as tmp:
        shell_running_two_pythons(args, tmp, None, c)
        shell_running_two_pythons(args, tmp, os.path.join(tmp, "given.wgtrace"), c)
        dead_process_with_a_deadlock(args, tmp, c)
        child_with_other_tmpdir(args, tmp, c)
    return c.finish()


def env_for(tmp):
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env["TMPDIR"] = tmp
    return env


def shell_running_two_pythons(args, tmp, trace, c):
    what = "sh -c 'python a.py; python b.py'" + (" --trace" if trace else "")
    print("== " + what)
    report = os.path.join(tmp, "report.json")
    cmd = [args.waitgraph, "run", "--format", "json", "--report", report]
    if trace:
        cmd += ["--trace", trace]
    cmd += ["--", "/bin/sh", "-c", '"$0" "$1"; "$0" "$2"', args.python, A, B]
    r = wgtest.run(cmd, limit=LIMIT, env=env_for(tmp), cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout.startswith(b"rows of public\n") and b"rows of acme" in r.stdout,
             "%s: both programs ran" % what,
             r.describe())
    if not c.expect(os.path.exists(report), "%s: report written" % what, r.describe()):
        return
    with open(report) as f:
        data = json.load(f)
    traces = data["traces"]
    c.expect(len(traces) == 2 and len({t.get("pid") for t in traces}) == 2,
             "%s: two traces, one per process" % what, json.dumps(traces, indent=1))
    c.expect(not any("corrupt" in n for n in data["notes"]), "%s: no corrupt trace" % what,
             "\n".join(data["notes"]))
    a_pids = [t["pid"] for t in traces if t.get("program") == A]
    found = [f for f in data["findings"] if f["name"] == FINDING]
    c.expect(len(found) == 1 and a_pids and found[0].get("pid") == a_pids[0],
             "%s: a.py's %s is reported, attributed to a.py's process" % (what, FINDING),
             json.dumps(data, indent=1)[:4000])
    if trace:
        names = sorted(os.path.basename(t["path"]) for t in traces)
        stem = os.path.basename(trace)[:-len(".wgtrace")]
        c.expect("given.wgtrace" in names and any(n.startswith(stem + ".") and n != "given.wgtrace" for n in names),
                 "--trace PATH: the first process wrote PATH, the other PATH-STEM.<pid>.wgtrace", str(names))
        with open(trace, "rb") as f:
            c.expect(A.encode() in wgtest.plain_payloads(f.read()), "--trace PATH holds a.py's trace")


def dead_process_with_a_deadlock(args, tmp, c):
    print("== a process deadlocks and dies; its sibling runs on")
    report = os.path.join(tmp, "report-dead.json")
    sibling = "import time; time.sleep(3.5); print('sibling done')"
    r = wgtest.run([args.waitgraph, "run", "--hang-timeout", "1", "--format", "json", "--report", report,
                    "--", "/bin/sh", "-c", '"$0" "$1"; "$0" -c "$2"', args.python, STARVE_THEN_DIE, sibling],
                   limit=LIMIT, env=env_for(tmp), cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout.endswith(b"sibling done\n"),
             "the sibling ran to its end (not stopped for the dead process's deadlock)", r.describe())
    if os.path.exists(report):
        with open(report) as f:
            data = json.load(f)
        found = [f for f in data["findings"] if f["name"] == "executor-starvation"]
        c.expect(len(found) == 1, "the dead process's executor-starvation is in the final report",
                 json.dumps(data, indent=1)[:3000])


def child_with_other_tmpdir(args, tmp, c):
    print("== a child with another TMPDIR while the parent records")
    trace = os.path.join(tmp, "parent.wgtrace")
    env = wgtest.shim_env(args.waitgraph, trace, env_for(tmp), checker=c)
    r = wgtest.run([args.python, PARENT], limit=LIMIT, env=env, cwd=tmp)
    c.expect(r.returncode == 0 and r.stdout == b"child 9\nparent 255\n" and not r.stderr,
             "parent and child ran, output untouched", r.describe())
    children = glob.glob(os.path.join(tmp, "parent.*.wgtrace"))
    c.expect(len(children) == 1, "the child wrote its own trace beside the parent's", str(children))
    a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=LIMIT)
    if c.expect(a.returncode == 0, "the parent's trace is readable", a.describe()):
        data = json.loads(a.stdout)
        c.expect(not data["notes"] and data["traces"][0]["pid"] != 0 and data["traces"][0]["events"] > 20,
                 "the parent's trace is whole (no note, its own events)", json.dumps(data, indent=1)[:3000])
        parent_pid = data["traces"][0]["pid"]
        if children:
            k = wgtest.run([args.waitgraph, "analyze", children[0], "--format", "json"], limit=LIMIT)
            child = json.loads(k.stdout)["traces"][0] if k.returncode == 0 else {}
            c.expect(child.get("parent_pid") == parent_pid,
                     "the child's trace records its parent (%s)" % parent_pid, k.describe())


if __name__ == "__main__":
    wgtest.main_guard(main)
