"""The flight recorder (issue 12): `waitgraph run --trace-max SIZE` bounds
the trace of a program that runs busily for a while, then deadlocks on
things it made in its first moments (programs/flight_busy_then_deadlock.py).

- The bounded trace wraps many times, never exceeds its bound by more than
  one chunk (watched while the program runs), and gives the same findings
  as an unbounded trace of the same program: in `run`'s own report (it
  follows the file across wraps while it is written; it stops the program
  once the starved pool has held) and in `analyze` afterwards (the file is
  decodable on its own: the starved pool and the lock deadlock, both made of
  things created long before the window the file keeps).
- The negative twin (--fixed) finishes; bounded, it is as silent as
  unbounded.
- A bad --trace-max is a one-line usage error (exit 2).
"""
import os
import subprocess
import sys
import threading
import time

import wgtest

BOUND = 64 * 1024
CHUNK_MAX = BOUND // 8  # the writer's chunk cap under a bound (flight_ring.h)
HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "programs", "flight_busy_then_deadlock.py")


def finding_keys(findings):
    """What must not change: each finding's rule, severity and message (less
    how long the hang had held when `run` stopped it: timing)."""
    import re
    return sorted((f.get("name"), f.get("severity"), re.sub(r"held [0-9.]+ s", "held N s", f.get("message", "")))
                  for f in findings or [])


def run_program(args, trace, extra, check, watch_size=False):
    """`waitgraph run` of the program; returns (result, report, largest size seen)."""
    report_path = trace + ".json"
    argv = [args.waitgraph, "run", "--trace", trace, "--format", "json", "--report", report_path,
            *extra, "--", args.python, PROGRAM, *(["--fixed"] if "fixed" in trace else [])]
    largest = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                largest[0] = max(largest[0], os.stat(trace).st_size)
            except OSError:
                pass
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    if watch_size:
        watcher.start()
    result = wgtest.run(argv, 90, env=wgtest.env_without_waitgraph())
    done.set()
    if watch_size:
        watcher.join()
    report = None
    if os.path.exists(report_path):
        with open(report_path, "rb") as f:
            report = wgtest.load_json(f.read(), report_path, check)
    else:
        check.fail("no report from %s" % " ".join(argv), result.describe())
    return result, report, largest[0]


def analyze(args, trace, check):
    result = wgtest.run([args.waitgraph, "analyze", "--format", "json", trace], 60,
                        env=wgtest.env_without_waitgraph())
    report = wgtest.load_json(result.stdout, "analyze %s" % trace, check)
    return report or {}


def main():
    args = wgtest.tool_args()
    check = wgtest.Checker("flight recorder")
    with wgtest.scratch_dir("wg-flight-") as tmp:
        # The deadlock, unbounded and bounded.
        full_result, full, _ = run_program(args, os.path.join(tmp, "full.wgtrace"), [], check)
        check.expect(full_result.returncode == 3, "unbounded run stops the hung program (exit 3)",
                     full_result.describe())
        bounded_trace = os.path.join(tmp, "bounded.wgtrace")
        bounded_result, bounded, largest = run_program(
            args, bounded_trace, ["--trace-max", "64K"], check, watch_size=True)
        check.expect(bounded_result.returncode == 3, "bounded run stops the hung program (exit 3)",
                     bounded_result.describe())
        full_size = os.path.getsize(os.path.join(tmp, "full.wgtrace"))
        check.expect(full_size > 4 * BOUND, "the unbounded trace is many times the bound (%d bytes)" % full_size)
        check.expect(0 < largest <= BOUND + CHUNK_MAX,
                     "the bounded trace never exceeded its bound by more than one chunk "
                     "(largest seen %d, bound %d)" % (largest, BOUND))
        full_findings = wgtest.findings_of(full, "unbounded report", check) or []
        bounded_findings = wgtest.findings_of(bounded, "bounded report", check) or []
        names = {f.get("name") for f in full_findings}
        check.expect("executor-starvation" in names, "the unbounded run finds the starved pool",
                     wgtest.summarize(full_findings))
        check.expect(finding_keys(full_findings) == finding_keys(bounded_findings),
                     "the bounded run's report has the same findings as the unbounded one",
                     "unbounded:\n%s\nbounded:\n%s" % (wgtest.summarize(full_findings),
                                                     wgtest.summarize(bounded_findings)))
        notes = " ".join((bounded or {}).get("notes", []))
        check.expect("bounded trace" in notes, "the bounded report says the trace was bounded",
                     notes or "(no notes)")

        # The files on their own, after the fact.
        full_again = analyze(args, os.path.join(tmp, "full.wgtrace"), check)
        bounded_again = analyze(args, bounded_trace, check)
        names = {f.get("name") for f in full_again.get("findings", [])}
        check.expect({"executor-starvation", "cross-call-deadlock"} <= names,
                     "analyze finds the starved pool and the lock deadlock in the unbounded file",
                     wgtest.summarize(full_again.get("findings", [])))
        check.expect(finding_keys(full_again.get("findings")) == finding_keys(bounded_again.get("findings")),
                     "analyze finds the same in the bounded file as in the unbounded one",
                     "unbounded:\n%s\nbounded:\n%s" % (
                         wgtest.summarize(full_again.get("findings", [])),
                         wgtest.summarize(bounded_again.get("findings", []))))
        check.expect(not os.path.exists(bounded_trace + ".wrap"), "no wrap file left behind")

        # The negative twin: finishes, silent bounded as unbounded.
        twin_full, twin_full_report, _ = run_program(args, os.path.join(tmp, "fixed-full.wgtrace"), [], check)
        twin, twin_report, twin_largest = run_program(
            args, os.path.join(tmp, "fixed-bounded.wgtrace"), ["--trace-max", "64K"], check, watch_size=True)
        check.expect(twin.returncode == 0 and b"done" in twin.stdout,
                     "the fixed program finishes under a bounded trace", twin.describe())
        check.expect(twin_largest <= BOUND + CHUNK_MAX, "its trace stays bounded (largest %d)" % twin_largest)
        twin_findings = wgtest.findings_of(twin_report, "fixed bounded report", check) or []
        twin_full_findings = wgtest.findings_of(twin_full_report, "fixed unbounded report", check) or []
        check.expect(not [f for f in twin_findings if f.get("severity") == "error"],
                     "the fixed program has no error findings, bounded", wgtest.summarize(twin_findings))
        check.expect(finding_keys(twin_findings) == finding_keys(twin_full_findings),
                     "the fixed program's findings are the same bounded and unbounded",
                     "unbounded:\n%s\nbounded:\n%s" % (wgtest.summarize(twin_full_findings),
                                                     wgtest.summarize(twin_findings)))

        # Bad input.
        bad = wgtest.run([args.waitgraph, "run", "--trace-max", "lots", "--", args.python, "-c", "pass"], 30,
                         env=wgtest.env_without_waitgraph())
        err = bad.stderr.decode("utf-8", "replace").strip()
        check.expect(bad.returncode == 2 and len(err.splitlines()) == 1 and "--trace-max" in err,
                     "a bad --trace-max is a one-line usage error (exit 2)", bad.describe())
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
