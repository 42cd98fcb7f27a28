"""`waitgraph check` for CI: the SARIF of every testdata case validates with
Microsoft's SARIF multitool; JUnit parses; a baseline survives a line shift
and still catches a new bug.

Usage: test_ci_outputs.py --waitgraph BIN --python PY --sarif-validator MULTITOOL
"""
import argparse
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

import wgtest

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "..", "testdata", "cases")


def record(args, program, trace, checker):
    """Runs `program` under `waitgraph run`; returns True if a trace was written."""
    r = wgtest.run([args.waitgraph, "run", "--trace", trace, "--", args.python, program], limit=30)
    checker.expect(r.returncode is not None and not r.timed_out and os.path.getsize(trace) > 0,
                   "recorded %s" % os.path.relpath(program, CASES), r.describe())
    return os.path.exists(trace)


def check_sarif(args, traces, tmp, checker):
    sarifs = []
    for name, trace in traces.items():
        out = os.path.join(tmp, name + ".sarif")
        r = wgtest.run([args.waitgraph, "check", trace, "--format", "sarif", "--output", out], limit=30)
        if checker.expect(r.returncode in (0, 1) and os.path.exists(out), "sarif for %s" % name,
                          r.describe()):
            sarifs.append(out)
    r = wgtest.run([args.sarif_validator, "validate", *sarifs], limit=240)
    text = (r.stdout + r.stderr).decode("utf-8", "replace")
    errors = [line for line in text.splitlines() if ": error " in line or "error SARIF" in line]
    checker.expect(r.returncode == 0 and not errors,
                   "sarif-multitool validates all %d SARIF files without errors" % len(sarifs), text)
    # A deadlock's SARIF carries its wait cycle as a code flow.
    hang = open(os.path.join(tmp, "asgiref_cancelled_request_deadlock.sarif")).read()
    checker.expect('"codeFlows"' in hang and '"partialFingerprints"' in hang,
                   "deadlock SARIF has a codeFlow and partialFingerprints")


def check_junit(args, trace, tmp, checker):
    out = os.path.join(tmp, "starved.xml")
    r = wgtest.run([args.waitgraph, "check", trace, "--format", "junit", "--output", out], limit=30)
    checker.expect(r.returncode == 1, "check exits 1 on an executor-starvation trace", r.describe())
    root = ET.parse(out).getroot()
    failed = [c.get("classname") for c in root.iter("testcase") if c.find("failure") is not None]
    checker.expect(failed == ["waitgraph.executor-starvation"],
                   "JUnit fails exactly the executor-starvation case", str(failed))


def check_baseline(args, traces, tmp, checker):
    """Baseline the latent deadlock; shift every line of the program; the
    same finding stays hidden; a different bug is still reported."""
    baseline = os.path.join(tmp, "baseline.json")
    r = wgtest.run([args.waitgraph, "check", traces["asgiref_pipeline_completes"],
                    "--write-baseline", baseline], limit=30)
    checker.expect(r.returncode == 1 and os.path.exists(baseline), "baseline written", r.describe())

    shifted_dir = os.path.join(tmp, "shifted")
    os.makedirs(shifted_dir)
    source = os.path.join(CASES, "asgiref_pipeline_completes", "program.py")
    shifted = os.path.join(shifted_dir, "program.py")
    with open(source) as f, open(shifted, "w") as out:
        out.write("# a comment\n\n\n" + f.read())  # every line moves by 3
    shifted_trace = os.path.join(tmp, "shifted.wgtrace")
    record(args, shifted, shifted_trace, checker)
    r = wgtest.run([args.waitgraph, "check", shifted_trace, "--baseline", baseline, "--format", "json"],
                   limit=30)
    report = wgtest.load_json(r.stdout, "check --baseline", checker) or {}
    checker.expect(r.returncode == 0 and report.get("findings") == [],
                   "after a line shift the baselined finding stays hidden", r.describe())

    r = wgtest.run([args.waitgraph, "check", traces["pool_self_starvation"], "--baseline", baseline,
                    "--format", "json"], limit=30)
    report = wgtest.load_json(r.stdout, "check --baseline (new bug)", checker) or {}
    names = [f["name"] for f in report.get("findings", [])]
    checker.expect(r.returncode == 1 and names == ["executor-starvation"],
                   "a new bug is reported despite the baseline", r.describe())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--waitgraph", required=True)
    parser.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    parser.add_argument("--sarif-validator", required=True)
    args = parser.parse_args()
    checker = wgtest.Checker("ci_outputs")
    if not os.path.exists(args.sarif_validator):
        checker.fail("no SARIF validator at %s (scripts/dev.sh test installs it with npm)"
                     % args.sarif_validator)
        return checker.finish()
    tmp = tempfile.mkdtemp(prefix="wg-ci-")
    try:
        traces = {}
        for name in sorted(os.listdir(CASES)):
            program = os.path.join(CASES, name, "program.py")
            if not os.path.exists(program):
                continue
            trace = os.path.join(tmp, name + ".wgtrace")
            if record(args, program, trace, checker):
                traces[name] = trace
        check_sarif(args, traces, tmp, checker)
        check_junit(args, traces["pool_self_starvation"], tmp, checker)
        check_baseline(args, traces, tmp, checker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main())
