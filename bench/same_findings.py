#!/usr/bin/env python3
"""Checks that an analyzer change changes no finding: the JSON report of
every kept trace must be byte for byte the same from two builds.

Step 1, once, with the build before the change (its shim records):
  same_findings.py record --waitgraph OLD/bin/waitgraph --dir DIR
    records DIR/cases/<case>.wgtrace for every testdata case (run as its
    integration test runs it: tests/integration/check_case.py --keep) and
    DIR/workloads/<name>.wgtrace for every bench workload at scale 1.

Step 2, after each change:
  same_findings.py compare --old OLD/bin/waitgraph --new NEW/bin/waitgraph --dir DIR [TRACE ...]
    runs `analyze --format json` with both on every trace in DIR (and on
    each TRACE given: the analyzer bench's large traces) and lists those
    whose reports differ; exit status 1 if any does. The old reports are
    cached in DIR/reports-old/ (keyed by the old binary's size and mtime),
    so a large trace is analysed by the old build only once.
"""
import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CASES = os.path.join(REPO, "testdata", "cases")
WORKLOADS = os.path.join(HERE, "workloads")
# Workloads that need a server or a driver of their own (bench/uvicorn_wrk.py).
NOT_STANDALONE = {"starlette_hello"}


def record(args):
    os.makedirs(os.path.join(args.dir, "cases"), exist_ok=True)
    os.makedirs(os.path.join(args.dir, "workloads"), exist_ok=True)
    for case in sorted(os.listdir(CASES)):
        if not os.path.exists(os.path.join(CASES, case, "program.py")):
            continue
        out = os.path.join(args.dir, "cases", case + ".wgtrace")
        if os.path.exists(out):
            continue
        with tempfile.TemporaryDirectory(prefix="wg-same-") as keep:
            # Whether the case passes does not matter here: its trace does.
            subprocess.run([args.python, os.path.join(REPO, "tests", "integration", "check_case.py"),
                            "--waitgraph", args.waitgraph, "--python", args.python,
                            "--case", os.path.join(CASES, case), "--keep", keep],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
            traces = sorted(glob.glob(os.path.join(keep, "*.wgtrace")))
            for i, trace in enumerate(traces):
                shutil.copy(trace, out if i == 0 else out.replace(".wgtrace", ".%d.wgtrace" % i))
        print("recorded case", case, file=sys.stderr)
    shim = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(args.waitgraph)),
                                         "..", "lib", "waitgraph", "python"))
    for program in sorted(glob.glob(os.path.join(WORKLOADS, "*.py"))):
        name = os.path.basename(program)[:-3]
        out = os.path.join(args.dir, "workloads", name + ".wgtrace")
        if name in NOT_STANDALONE or os.path.exists(out):
            continue
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
        env.update(PYTHONPATH=shim, WAITGRAPH_TRACE=out, WAITGRAPH_TRACE_MAX="0")
        subprocess.run([args.python, program, "1"], env=env, stdout=subprocess.DEVNULL, check=True)
        print("recorded workload", name, file=sys.stderr)


def report(waitgraph, trace):
    """`analyze --format json` of `trace` (stdout and exit status)."""
    run = subprocess.run([waitgraph, "analyze", trace, "--format", "json"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    return run.stdout + b"\nexit status %d\n" % run.returncode


def old_report(args, trace):
    st = os.stat(args.old)
    key = hashlib.sha1(("%s %d %d %s %d" % (args.old, st.st_size, st.st_mtime_ns, os.path.abspath(trace),
                                             os.stat(trace).st_mtime_ns)).encode()).hexdigest()
    cache = os.path.join(args.dir, "reports-old", key + ".json")
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            return f.read()
    text = report(args.old, trace)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "wb") as f:
        f.write(text)
    return text


def compare(args):
    traces = sorted(glob.glob(os.path.join(args.dir, "cases", "*.wgtrace")) +
                    glob.glob(os.path.join(args.dir, "workloads", "*.wgtrace"))) + args.traces
    if not traces:
        sys.exit("same_findings.py: no traces in %s (run `same_findings.py record` first)" % args.dir)
    differ = []
    for trace in traces:
        if old_report(args, trace) != report(args.new, trace):
            differ.append(trace)
            print("DIFFERS:", trace)
    print("%d traces, %d reports differ" % (len(traces), len(differ)))
    return 1 if differ else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--waitgraph", required=True)
    rec.add_argument("--python", default="/usr/bin/python3")
    rec.add_argument("--dir", required=True)
    cmp = sub.add_parser("compare")
    cmp.add_argument("--old", required=True)
    cmp.add_argument("--new", default=os.path.join(REPO, "build", "bin", "waitgraph"))
    cmp.add_argument("--dir", required=True)
    cmp.add_argument("traces", nargs="*")
    args = ap.parse_args()
    if args.command == "record":
        record(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
