#!/usr/bin/env python3
"""Issue 14 items 2 and 3: `waitgraph graph` and `waitgraph export`.

Records a real deadlock (a thread waits for a coroutine it handed to the
loop, the loop's thread joins that thread) and checks:
  - `graph --format dot|svg` draws its cycle: the threads, the loop and the
    future as nodes, the waits as edges labelled with the user's lines;
    the SVG is well-formed XML laid out by Graphviz; `--finding N` of a
    finding without a cycle, an unknown finding, a bad format or trace give
    one-line errors with distinct exit codes;
  - `export --format trace-event` is JSON in the Trace Event Format whose
    tracks, slices, flows and instants match the trace's own events, as
    decoded independently by wg_trace_dump.

usage: test_pictures.py --waitgraph BIN --trace-dump BIN [--python PY]
"""
import argparse
import collections
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

import pictures_common
import wgtest

EXIT_BAD_INPUT = 2
EXIT_NO_CYCLE = 6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--trace-dump", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = ap.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)
    c = wgtest.Checker("pictures")
    with wgtest.scratch_dir("wg-pictures-") as tmp:
        trace = pictures_common.record(args, tmp, c)
        if trace:
            findings = pictures_common.analyze_json(args, trace, tmp, c)
            check_graph(args, trace, findings, tmp, c)
            check_export(args, trace, findings, tmp, c)
        for case, kinds in [("lock_order_latent_inversion", {"lockclass": 2}),
                            ("pools_wait_on_each_other_latent", {"executor": 2})]:
            check_latent(args, case, kinds, tmp, c)
    return c.finish()


def deadlock_index(findings):
    for i, f in enumerate(findings):
        if f["name"] == "cross-call-deadlock":
            return i + 1
    return None


def check_graph(args, trace, findings, tmp, c):
    number = deadlock_index(findings)
    c.expect(number is not None, "analyze reports the cross-call deadlock",
             json.dumps([f["name"] for f in findings]))
    join_line = pictures_common.line_of("worker.join()")
    result_line = pictures_common.line_of("return future.result()")

    r = wgtest.run([args.waitgraph, "graph", trace, "--format", "dot"], limit=60, cwd=tmp)
    dot = r.stdout.decode()
    c.expect(r.returncode == 0 and dot.lstrip().startswith("digraph"), "graph --format dot prints a digraph",
             r.describe())
    nodes = dict(re.findall(r'"?((?:thread|loop|future|executor):\d+)"?\s*\[([^\]]*)\]', dot))
    kinds = collections.Counter(n.split(":")[0] for n in nodes)
    c.expect(kinds["thread"] == 2 and kinds["loop"] == 1 and kinds["future"] == 1,
             "the cycle's nodes: two threads, the loop, the future", dot)
    c.expect("MainThread" in dot and "lookup-worker" in dot, "nodes are named by their threads", dot)
    c.expect("runs event loop" in dot, "the loop thread's role is on its node", dot)
    edges = re.findall(r'"?([a-z]+:\d+)"?\s*->\s*"?([a-z]+:\d+)"?\s*\[([^\]]*)\]', dot)
    c.expect(len(edges) == 4, "four edges: a cycle through each node", dot)
    c.expect("waits in Thread.join\\nhandoff_deadlock.py:%d" % join_line in dot,
             "the join edge is labelled with the user's line %d" % join_line, dot)
    c.expect("waits in Future.result\\nhandoff_deadlock.py:%d" % result_line in dot,
             "the result() edge is labelled with the user's line %d" % result_line, dot)
    c.expect("completed only by\\n(run_coroutine_threadsafe)" in dot,
             "the future's edge to the loop names the hand-off, run_coroutine_threadsafe", dot)
    targets = collections.Counter(dst for _, dst, _ in edges)
    sources = collections.Counter(src for src, _, _ in edges)
    c.expect(set(targets) == set(nodes) == set(sources), "every node waits and is waited for: a cycle", dot)

    svg_path = os.path.join(tmp, "cycle.svg")
    r = wgtest.run([args.waitgraph, "graph", trace, "--finding", str(number or 1), "--format", "svg",
                    "--output", svg_path], limit=60, cwd=tmp)
    c.expect(r.returncode == 0 and os.path.exists(svg_path), "graph --format svg --output writes a file",
             r.describe())
    if os.path.exists(svg_path):
        try:
            root = ET.parse(svg_path).getroot()
            texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
            c.expect(root.tag == "{http://www.w3.org/2000/svg}svg", "the SVG is well-formed, an <svg> root")
            c.expect("MainThread" in texts and "Thread.join" in texts and
                     "handoff_deadlock.py:%d" % join_line in texts,
                     "the SVG's text has the threads, waits and lines", texts)
            c.expect(len(root.findall(".//{http://www.w3.org/2000/svg}g[@class='edge']")) == 4,
                     "Graphviz laid out four edges")
        except ET.ParseError as e:
            c.fail("the SVG is not well-formed XML: %s" % e)

    stall = next((i + 1 for i, f in enumerate(findings) if f["name"] == "loop-stall"), None)
    if c.expect(stall is not None, "analyze also reports the loop stall (a finding with no cycle)"):
        r = wgtest.run([args.waitgraph, "graph", trace, "--finding", str(stall)], limit=60, cwd=tmp)
        err = r.stderr.decode()
        c.expect(r.returncode == EXIT_NO_CYCLE and "no wait-for cycle" in err and str(number) in err
                 and len(err.strip().splitlines()) == 1,
                 "graph --finding N of the stall: one line naming the findings that have a cycle, exit 6",
                 r.describe())
    for argv, code, what in [
            (["--finding", "99"], EXIT_NO_CYCLE, "an unknown finding number"),
            (["--format", "png"], EXIT_BAD_INPUT, "an unknown format"),
            (["--finding", "x"], EXIT_BAD_INPUT, "a finding that is not a number")]:
        r = wgtest.run([args.waitgraph, "graph", trace] + argv, limit=60, cwd=tmp)
        c.expect(r.returncode == code and len(r.stderr.decode().strip().splitlines()) == 1 and not r.stdout,
                 "graph with %s: one line, exit %d" % (what, code), r.describe())
    r = wgtest.run([args.waitgraph, "graph", os.path.join(tmp, "missing.wgtrace")], limit=60, cwd=tmp)
    c.expect(r.returncode == EXIT_BAD_INPUT and len(r.stderr.decode().strip().splitlines()) == 1,
             "graph of a missing trace: one line, exit 2", r.describe())


def check_latent(args, case, kinds, tmp, c):
    """A latent cycle (a case's own program, no hang) is drawn over its
    classes with dashed edges, each with the user's line."""
    program = os.path.join(os.path.dirname(pictures_common.PROGRAM), "..", "cases", case, "program.py")
    trace = os.path.join(tmp, case + ".wgtrace")
    r = wgtest.run([args.waitgraph, "run", "--trace", trace, "--", args.python, program], limit=60,
                   env=wgtest.env_without_waitgraph(), cwd=tmp)
    if not c.expect(os.path.exists(trace), "%s is recorded" % case, r.describe()):
        return
    r = wgtest.run([args.waitgraph, "graph", trace, "--format", "dot"], limit=60, cwd=tmp)
    dot = r.stdout.decode()
    # Node statements only: an edge's first quoted id is followed by "->", not "[".
    found = collections.Counter(re.findall(r'^\s*"(lockclass|executor|loop|thread)[#@:][^"]*"\s*\[', dot, re.M))
    edges = re.findall(r'->', dot)
    c.expect(r.returncode == 0 and all(found[k] == n for k, n in kinds.items()) and len(edges) == 2,
             "%s: its latent cycle is drawn, %s nodes and two edges" % (case, kinds), dot or r.describe())
    c.expect(dot.count("style=dashed") == 2 and re.search(r"at(\\n| )\+\d+\.\d\d s", dot) and "program.py:" in dot,
             "%s: latent edges are dashed, with when and where each was seen" % case, dot)


def dump_events(args, trace, c):
    """[(time ms, thread, kind, subject, object, name)] from wg_trace_dump."""
    r = wgtest.run([args.trace_dump, trace], limit=60)
    c.expect(r.returncode == 0, "wg_trace_dump reads the trace", r.describe())
    events = []
    pattern = re.compile(r"^\s*([\d.]+)ms t=(\d+) (\S+)\s+s=(\d+) o=(\d+) arg=\S+ name=([^|]*)")
    for line in r.stdout.decode().splitlines():
        m = pattern.match(line)
        if m:
            events.append((float(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4)), int(m.group(5)),
                           m.group(6).strip()))
    return events


def check_export(args, trace, findings, tmp, c):
    out = os.path.join(tmp, "timeline.json")
    r = wgtest.run([args.waitgraph, "export", trace, "--format", "trace-event", "--output", out],
                   limit=60, cwd=tmp)
    if not c.expect(r.returncode == 0 and os.path.exists(out), "export --format trace-event writes a file",
                    r.describe()):
        return
    with open(out) as f:
        doc = wgtest.load_json(f.read(), "the exported timeline", c)
    if doc is None:
        return
    events = doc.get("traceEvents", [])
    c.expect(len(events) > 0 and all("ph" in e and "pid" in e for e in events),
             "a Trace Event Format object: traceEvents, each with ph and pid")
    dumped = dump_events(args, trace, c)

    # Tracks: a named track per thread (by its native id) and per loop.
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    started = {tid: name for _, tid_, kind, tid, _, name in dumped if kind == "THREAD_STARTED"}
    c.expect(all(names.get(tid) == name for tid, name in started.items() if name),
             "every thread the trace started has its track, named as in the trace",
             "tracks %s\nstarted %s" % (names, started))
    c.expect("MainThread" in names.values() and "lookup-worker" in names.values(),
             "MainThread and lookup-worker have tracks", str(names))
    loops = {e[3] for e in dumped if e[2] == "LOOP_CREATED"}
    loop_tracks = {tid: name for tid, name in names.items() if name.startswith("loop ")}
    c.expect(len(loop_tracks) == len(loops) >= 1, "one track per event loop the trace created (%d)" % len(loops),
             str(loop_tracks))
    c.expect(any(e["ph"] == "M" and e["name"] == "process_name" for e in events), "the process is named")

    # Slices: one "wait" slice per WAIT_BEGIN, on the thread that waited.
    waits = [e for e in events if e["ph"] == "X" and e.get("cat") == "wait"]
    begun = collections.Counter((tid, name) for _, tid, kind, _, _, name in dumped if kind == "WAIT_BEGIN")
    sliced = collections.Counter((e["tid"], e["name"]) for e in waits)
    c.expect(begun == sliced and len(waits) > 0,
             "a wait slice per WAIT_BEGIN of the trace, on its thread, named by its API (%d)" % len(waits),
             "trace %s\nexport %s" % (begun, sliced))
    join = [e for e in waits if e["name"] == "Thread.join"]
    c.expect(any(e["args"].get("outcome", "").startswith("still waiting") for e in join),
             "the deadlocked join lasts to the end of the trace", json.dumps(join))
    join_line = pictures_common.line_of("worker.join()")
    c.expect(any(e["args"].get("where", "").startswith("handoff_deadlock.py:%d" % join_line) for e in join),
             "the join slice names the user's line", json.dumps(join))
    stalls = [e for e in events if e["ph"] == "X" and e.get("cat") == "stall"]
    stall_ids = {e[3] for e in dumped if e[2] in ("LOOP_STALL", "LOOP_STALL_SAMPLE")}
    c.expect(len(stalls) == len(stall_ids) >= 1
             and all(e["tid"] in loop_tracks for e in stalls) and any(e["dur"] >= 250000 for e in stalls),
             "a slice per stall the trace saw (%d, the 0.3 s one included) on the loop's track" % len(stall_ids),
             json.dumps(stalls))
    runs = [e for e in events if e["ph"] == "X" and e.get("cat") == "loop"]
    c.expect(len(runs) == len([e for e in dumped if e[2] == "LOOP_RUN_BEGIN"]) and
             all(e["tid"] in loop_tracks for e in runs), "a slice per loop run on the loop's track",
             json.dumps(runs))

    # Flows: an s/f pair per LOOP_HANDOFF, from the thread that handed off to the loop's track.
    handoffs = [e for e in dumped if e[2] == "LOOP_HANDOFF"]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    c.expect(len(handoffs) >= 2 and len(starts) == len(ends) == len(handoffs) and set(starts) == set(ends),
             "an s/f flow pair per hand-off in the trace (%d)" % len(handoffs),
             "handoffs %s\nflows %s %s" % (handoffs, starts, ends))
    c.expect(sorted(e["tid"] for e in starts.values()) == sorted(e[1] for e in handoffs) and
             all(e["tid"] in loop_tracks for e in ends.values()),
             "each flow starts on the handing thread and ends on the loop's track")
    c.expect(all(e.get("bp") == "e" for e in ends.values()), "flow ends bind to their enclosing slice")

    # Instants: loop life and the findings.
    instants = [e for e in events if e["ph"] == "i"]
    c.expect(any(e["name"] == "loop created" and e["tid"] in loop_tracks for e in instants),
             "the loop's creation is an instant on its track")
    finding_names = sorted("%s %s" % (f["code"], f["name"]) for f in findings)
    exported = sorted(e["name"] for e in instants if e.get("cat") == "finding")
    c.expect(exported == finding_names and all(e.get("s") == "g" for e in instants if e.get("cat") == "finding"),
             "every finding is a global instant", "%s\n%s" % (finding_names, exported))
    r = wgtest.run([args.waitgraph, "export", trace], limit=60, cwd=tmp)
    c.expect(r.returncode == EXIT_BAD_INPUT and b"--format trace-event" in r.stderr,
             "export without --format says which to give, exit 2", r.describe())


if __name__ == "__main__":
    wgtest.main_guard(main)
