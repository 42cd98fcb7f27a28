#!/usr/bin/env python3
"""Runs one testdata case under `waitgraph run` and checks it against its
expect.json; then checks that `analyze` and `check` agree on the trace, and
that `analyze` gives the same report byte for byte with every event sent to
every analysis (WAITGRAPH_TESTING_EVERY_EVENT_TO_EVERY_SINK=1: a kind an
analysis handles but left out of its EventSink::Wants() would be dropped).

usage: check_case.py --waitgraph BIN --case DIR [--python PY] [--hang-timeout S] [--keep DIR]

expect.json:
  description       one line
  hangs             the program deadlocks by design
  hang_after        seconds after start when the hang begins (hang cases)
  exit_code         expected exit status of `waitgraph run`
  findings          [{name, severity?, message_contains?: [...]}] each must appear;
                    a phrase matches in the message or, failing that, anywhere
                    in the finding (its locations and related locations);
                    message_absent: phrases no message of that rule may hold
  absent            names that must not appear
  only_listed       no findings other than those listed
                    (each listed finding may also give fix_contains /
                    fix_absent: phrases its fix must / must not hold)
                    (absent and only_listed leave out a loop-stall note about
                    a module import, unless loop-stall is listed: a loaded
                    machine's slow lazy import; wgtest.incidental)
  notes_contain     phrases that must appear in the report's notes
  max_severity      "note": no finding may be a warning or an error
  stdout            the lines the program prints: `run` must pass them through
                    untouched (nothing added, nothing lost)
  trace_shows       "KIND" or "KIND:name" (EventKind from the proto, name a
                    substring of the event's name): the trace must hold such an
                    event. Guards against vacuous passes: a negative twin is only
                    silent for a reason if the shim saw the waits it is about.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

# A case that does not hang gets this long (the shim may slow it down).
NON_HANG_LIMIT = 30.0
# A hang must be reported (and the program killed) within hang-timeout + 2 s
# of the hang starting. expect.json's "hang_after" says when that is (seconds
# after the program starts); interpreter and shim start-up get STARTUP more.
HANG_REPORT_SLACK = 2.0
STARTUP = 1.0
# Wall-clock limit of a hanging case: then `run` is killed and the case fails.
HANG_LIMIT = 8.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    ap.add_argument("--hang-timeout", type=float, default=2.0)
    ap.add_argument("--keep", help="copy the trace and reports here")
    args = ap.parse_args()

    case = os.path.abspath(args.case)
    name = os.path.basename(case.rstrip("/"))
    c = wgtest.Checker("case " + name)
    with open(os.path.join(case, "expect.json")) as f:
        expect = json.load(f)
    print("case %s: %s" % (name, expect.get("description", "")))

    tmp = tempfile.mkdtemp(prefix="wg-case-%s-" % name)
    try:
        check(args, case, expect, tmp, c)
    finally:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for entry in os.listdir(tmp):
                shutil.copy(os.path.join(tmp, entry), args.keep)
            print("kept trace and reports in " + args.keep)
        shutil.rmtree(tmp, ignore_errors=True)
    return c.finish()


def check(args, case, expect, tmp, c):
    wg = args.waitgraph
    trace = os.path.join(tmp, "trace.wgtrace")
    report_path = os.path.join(tmp, "run-report.json")
    hangs = bool(expect.get("hangs"))
    limit = max(HANG_LIMIT, args.hang_timeout + 6.0) if hangs else NON_HANG_LIMIT

    # --- waitgraph run -------------------------------------------------------
    # The cases' directory is the project: paths show as CASE/program.py
    # (what expect.json's messages name), wherever the tools run.
    root = ["--source-root", os.path.dirname(case)]
    r = wgtest.run([wg, "run", "--trace", trace, "--hang-timeout", str(args.hang_timeout),
                    "--format", "json", "--report", report_path] + root + ["--",
                    args.python, os.path.join(case, "program.py")],
                   limit=limit, cwd=case)
    print(r.describe())
    if r.timed_out:
        c.fail("`waitgraph run` did not finish within %.1f s%s" % (
            limit, " (a hang must be reported and the program killed by then)" if hangs else ""))
        return
    c.expect(r.returncode == expect["exit_code"],
             "`waitgraph run` exits %d" % expect["exit_code"], "got exit %s" % r.returncode)
    if hangs:
        due = STARTUP + expect.get("hang_after", 0.5) + args.hang_timeout + HANG_REPORT_SLACK
        c.expect(r.elapsed <= due, "hang reported and program ended within %.2f s (took %.2f s)" % (due, r.elapsed))
    if "stdout" in expect:
        want = "".join(line + "\n" for line in expect["stdout"])
        c.expect(r.stdout.decode("utf-8", "replace") == want, "program output passes through untouched",
                 "want stdout %r\ngot  stdout %r" % (want, r.stdout))

    run_findings = None
    if c.expect(os.path.exists(report_path), "--report file written"):
        with open(report_path, "rb") as f:
            report = wgtest.load_json(f.read(), "run --report", c)
        if report is not None:
            run_findings = wgtest.findings_of(report, "run report", c)
    if run_findings is not None:
        print("run report findings:\n" + wgtest.indent(wgtest.summarize(run_findings)))
        wgtest.check_findings(run_findings, expect, "run", c)
    if run_findings is not None and expect.get("notes_contain"):
        notes = report.get("notes", [])
        for phrase in expect["notes_contain"]:
            c.expect(any(phrase in n for n in notes), "run report notes mention %r" % phrase,
                     "\n".join(notes))

    # --- the trace -------------------------------------------------------------
    if not c.expect(os.path.exists(trace), "trace file written at --trace"):
        return
    with open(trace, "rb") as f:
        data = f.read()
    try:
        frames, tail = wgtest.read_frames(data)
        c.expect(frames, "trace has whole checksummed chunks (%d, %d bytes)" % (len(frames), len(data)))
        if not hangs:
            c.expect(tail == 0, "a cleanly finished trace has no partial chunk at its end",
                     "%d trailing bytes" % tail)
    except ValueError as e:
        c.fail("trace framing: %s" % e)
    if expect.get("trace_shows"):
        check_trace_shows(data, expect["trace_shows"], c)

    # --- waitgraph analyze ---------------------------------------------------
    a = wgtest.run([wg, "analyze", trace, "--format", "json"] + root, limit=60)
    if not c.expect(a.returncode == 0 and not a.timed_out, "`analyze --format json` exits 0", a.describe()):
        return
    analysis = wgtest.load_json(a.stdout, "analyze --format json output", c)
    if analysis is None:
        return
    findings = wgtest.findings_of(analysis, "analyze", c)
    if findings is None:
        return
    print("analyze findings:\n" + wgtest.indent(wgtest.summarize(findings)))
    wgtest.check_findings(findings, expect, "analyze", c)
    if hangs:
        # `run` stopped the program once the hang had held --hang-timeout s and
        # the trace runs on to the kill, so analyze must see it held that long.
        for want in expect.get("findings", []):
            held = [f.get("held_seconds") for f in findings if f.get("name") == want["name"]]
            c.expect(any(isinstance(h, (int, float)) and h >= args.hang_timeout * 0.9 for h in held),
                     "analyze: %s held at least %.1f s (until the kill)" % (want["name"], args.hang_timeout * 0.9),
                     "held_seconds: %s" % held)
    if run_findings is not None:
        key = lambda f: (f.get("code"), f.get("name"), f.get("severity"))  # noqa: E731
        got_run, got_analyze = sorted(set(map(key, run_findings))), sorted(set(map(key, findings)))
        c.expect(got_run == got_analyze, "run report and analyze agree on (code, name, severity)",
                 "run only:     %s\nanalyze only: %s" % (
                     sorted(set(got_run) - set(got_analyze)), sorted(set(got_analyze) - set(got_run))))

    # Every sink fed every event, whatever its Wants() says: the same report,
    # byte for byte (a kind a sink handles but left out of Wants() is dropped).
    unfiltered_env = dict(os.environ, WAITGRAPH_TESTING_EVERY_EVENT_TO_EVERY_SINK="1")
    u = wgtest.run([wg, "analyze", trace, "--format", "json"] + root, limit=60, env=unfiltered_env)
    c.expect(u.returncode == 0 and u.stdout == a.stdout,
             "analyze with every event sent to every sink gives the same report",
             "%s\nfiltered:\n%s\nunfiltered:\n%s" % (u.describe(), a.stdout.decode("utf-8", "replace"),
                                                       u.stdout.decode("utf-8", "replace")))

    # Text format: every finding's name shows.
    t = wgtest.run([wg, "analyze", trace, "--format", "text"] + root, limit=60)
    if c.expect(t.returncode == 0, "`analyze --format text` exits 0", t.describe()):
        text = t.stdout.decode("utf-8", "replace")
        missing = sorted({f["name"] for f in findings if f.get("name") and f["name"] not in text})
        c.expect(not missing, "text report names every finding", "missing %s in:\n%s" % (missing, text))

    # --- waitgraph check -----------------------------------------------------
    worst = wgtest.worst_severity(findings)
    for fail_on, threshold in (("default", 1), ("error", 2), ("note", 0), ("never", 99)):
        argv = [wg, "check", trace] + root + ([] if fail_on == "default" else ["--fail-on", fail_on])
        want = 1 if worst >= threshold else 0
        k = wgtest.run(argv, limit=60)
        c.expect(k.returncode == want and not k.timed_out,
                 "`check%s` exits %d (worst finding: %s)" % (
                     "" if fail_on == "default" else " --fail-on " + fail_on, want,
                     {-1: "none", 0: "note", 1: "warning", 2: "error"}[worst]),
                 k.describe())
    k = wgtest.run([wg, "check", trace, "--format", "json"] + root, limit=60)
    checked = wgtest.load_json(k.stdout, "check --format json output", c) if k.returncode in (0, 1) else None
    if checked is not None:
        cf = wgtest.findings_of(checked, "check --format json", c)
        if cf is not None:
            c.expect(sorted(f.get("name") for f in cf) == sorted(f.get("name") for f in findings),
                     "`check --format json` lists the same findings as analyze",
                     "check:   %s\nanalyze: %s" % (wgtest.summarize(cf), wgtest.summarize(findings)))


def check_trace_shows(data, wanted, c):
    try:
        events = wgtest.decode_events(data)
    except (ValueError, IndexError) as e:
        c.fail("trace decoding: %s" % e)
        return
    missing = []
    for spec in wanted:
        kind, _, name = spec.partition(":")
        if not any(k == kind and name in n for k, n in events):
            missing.append(spec)
    seen = sorted({"%s:%s" % (k, n) if n else k for k, n in events})
    c.expect(not missing, "trace shows %s (%d events)" % (", ".join(wanted), len(events)),
             "missing: %s\nthe trace has: %s" % (missing, ", ".join(seen)))


if __name__ == "__main__":
    wgtest.main_guard(main)
