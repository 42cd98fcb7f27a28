#!/usr/bin/env python3
"""The text report people read (issue 14 items 1 and 5, issue 11's
--source-root), on traces of real programs recorded under the real shim:

- wrapping to COLUMNS (60, 80, 120): no line wider, unless it is one word;
  each headline one line;
- folding: library runs folded into "... N asyncio frames", --full-stacks
  shows them all, and the folded counts add up;
- colour: --color always/never, none into a pipe, colour on a terminal
  (a pty) unless NO_COLOR is set;
- path styles: a project installed in a fake site-packages is library code
  until --source-root points at it, then its files are the user's (text,
  JSON origin, SARIF relative URIs under %SRCROOT%);
- merging: one queue used from two foreign loops is one finding with two
  occurrences in text (still two in JSON, fingerprints unchanged);
- several traces: a summary line per trace, each finding under its trace,
  notes said once;
- explain in any case, rule docs' references exist, counts in good grammar.

Usage: test_text_report.py --waitgraph BIN [--python PY]
"""
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import textwrap

import wgtest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CASES = os.path.join(REPO, "testdata", "cases")
HEADLINE = re.compile(r"^(error|warning|note)\[WG\d+\]: ")
FOLDED = re.compile(r"^\s+\.\.\. (\d+) (\S+ frames?|library frames? \(.*\))$")

SHOP_VIEWS = textwrap.dedent('''\
    import asyncio
    import contextvars

    request_id = contextvars.ContextVar("request_id", default=None)


    async def tag_request():
        request_id.set("r-1")


    async def handle():
        await asyncio.gather(tag_request())
        return request_id.get()


    def main():
        print(asyncio.run(handle()))
    ''')

SHOP_MAIN = textwrap.dedent('''\
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "env", "lib", "python3.11", "site-packages"))
    import shop.views

    shop.views.main()
    ''')


def record(args, program, trace, c, cwd=None, hangs=False):
    r = wgtest.run([args.waitgraph, "run", "--trace", trace, "--", args.python, program],
                   limit=40, cwd=cwd or os.path.dirname(program))
    c.expect(os.path.exists(trace) and not r.timed_out and (r.returncode == 3) == hangs,
             "recorded %s" % os.path.basename(os.path.dirname(program)), r.describe())
    return os.path.exists(trace)


def text(args, argv, c, env=None, cwd=None, what=None):
    e = dict(wgtest.env_without_waitgraph())
    e.pop("NO_COLOR", None)
    e.pop("COLUMNS", None)
    e.update(env or {})
    r = wgtest.run([args.waitgraph] + argv, limit=60, env=e, cwd=cwd)
    c.expect(r.returncode in (0, 1) and not r.timed_out, what or "`waitgraph %s` runs" % " ".join(argv[:1]),
             r.describe())
    return r.stdout.decode("utf-8", "replace")


def check_wrapping(args, trace, c):
    for width in (60, 80, 120):
        out = text(args, ["analyze", trace, "--source-root", CASES], c, env={"COLUMNS": str(width)})
        too_wide = [l for l in out.splitlines() if len(l) > width and " " in l.strip()]
        c.expect(not too_wide, "COLUMNS=%d: no line is wider, unless it is one word" % width,
                 "\n".join(too_wide))
        heads = [l for l in out.splitlines() if HEADLINE.match(l)]
        c.expect(heads and all(len(l) <= width for l in heads),
                 "COLUMNS=%d: each headline fits one line (%d headlines)" % (width, len(heads)), out)
    wide = text(args, ["analyze", trace, "--source-root", CASES], c, env={"COLUMNS": "200"})
    narrow = text(args, ["analyze", trace, "--source-root", CASES], c, env={"COLUMNS": "60"})
    c.expect(len(narrow.splitlines()) > len(wide.splitlines()), "a narrower terminal gets more lines")
    return narrow


def check_folding(args, trace, c):
    folded = text(args, ["analyze", trace, "--source-root", CASES], c, env={"COLUMNS": "200"})
    full = text(args, ["analyze", trace, "--source-root", CASES, "--full-stacks"], c,
                env={"COLUMNS": "200"})
    folds = [FOLDED.match(l) for l in folded.splitlines() if FOLDED.match(l)]
    c.expect(any(m.group(2) == "asyncio frames" for m in folds),
             "library frames folded as '... N asyncio frames'", folded)
    c.expect(not [l for l in full.splitlines() if FOLDED.match(l)], "--full-stacks folds nothing", full)
    at = lambda t: len([l for l in t.splitlines() if l.strip().startswith("at ")])  # noqa: E731
    c.expect(at(folded) + sum(int(m.group(1)) for m in folds) == at(full),
             "shown + folded frames = every frame (%d + %d = %d)"
             % (at(folded), sum(int(m.group(1)) for m in folds), at(full)))
    c.expect("at asgiref_cancelled_request_deadlock/program.py:34 in handle_request" in folded,
             "the user's frames are shown, relative to the source root", folded)
    c.expect("<site-packages>/asgiref/sync.py:" in folded and "<stdlib>/asyncio/" in full,
             "library paths as <site-packages>/pkg/... and <stdlib>/...")
    c.expect("/usr/lib/python3" not in full, "no absolute library path")
    return folded + full


def check_colour(args, trace, c):
    esc = "\x1b["
    always = text(args, ["analyze", trace, "--color", "always"], c)
    never = text(args, ["analyze", trace, "--color", "never"], c)
    piped = text(args, ["analyze", trace], c)
    c.expect(esc in always, "--color always colours")
    c.expect(esc not in never and esc not in piped, "--color never, and a pipe, get no colour")
    c.expect(re.sub(r"\x1b\[[0-9;]*m", "", always) == never, "colour changes nothing but colour")
    c.expect(esc in text(args, ["analyze", trace, "--color", "always"], c, env={"NO_COLOR": "1"}),
             "--color always wins over NO_COLOR")
    r = wgtest.run([args.waitgraph, "analyze", trace, "--color", "rainbow"], limit=30)
    c.expect(r.returncode == 2 and r.stdout == b"" and b"use auto, always or never" in r.stderr,
             "an unknown --color: exit 2 and one line saying what to use", r.describe())
    for env, want in (({}, True), ({"NO_COLOR": "1"}, False)):
        e = dict(wgtest.env_without_waitgraph())
        e.pop("NO_COLOR", None)
        e.update(env)
        master, slave = pty.openpty()
        proc = subprocess.Popen([args.waitgraph, "analyze", trace], stdout=slave, stderr=slave,
                                stdin=subprocess.DEVNULL, env=e)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        proc.wait(timeout=60)
        os.close(master)
        got = esc.encode() in data
        c.expect(got == want, "on a terminal%s: %s" % (" with NO_COLOR=1" if env else "",
                                                       "colour" if want else "no colour"),
                 data.decode("utf-8", "replace"))


def check_path_styles(args, tmp, c):
    """A project installed in a (fake) site-packages: library code, until
    --source-root says it is the user's."""
    proj = os.path.join(tmp, "shopapp")
    pkg = os.path.join(proj, "env", "lib", "python3.11", "site-packages", "shop")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    with open(os.path.join(pkg, "views.py"), "w") as f:
        f.write(SHOP_VIEWS)
    with open(os.path.join(proj, "main.py"), "w") as f:
        f.write(SHOP_MAIN)
    trace = os.path.join(tmp, "shop.wgtrace")
    if not record(args, os.path.join(proj, "main.py"), trace, c):
        return ""
    as_library = text(args, ["analyze", trace, "--source-root", proj], c, env={"COLUMNS": "200"})
    c.expect("lost-context-write" not in as_library and "0 errors, 0 warnings" in as_library,
             "without its root the installed package is a library: a write and a read both in "
             "library code are its own bookkeeping, silent", as_library)
    as_project = text(args, ["analyze", trace, "--source-root", pkg], c, env={"COLUMNS": "200"})
    c.expect("--> views.py:8 in tag_request" in as_project and "<site-packages>/shop" not in as_project,
             "--source-root at the installed package: its files are the user's, the lost write is "
             "found at views.py:8", as_project)
    data = json.loads(text(args, ["analyze", trace, "--source-root", pkg, "--format", "json"], c))
    found = [f for f in data["findings"] if f["name"] == "lost-context-write"]
    locs = [f["locations"][0] for f in found]
    c.expect(locs and locs[0].get("origin") == "project" and locs[0].get("display_path") == "views.py"
             and locs[0]["path"].endswith("/site-packages/shop/views.py"),
             "JSON: the user's line has origin project, display_path views.py, the real path",
             json.dumps(locs))
    origins = {l.get("origin") for f in found for l in f.get("stack", [])}
    c.expect({"project", "stdlib", "other"} <= origins,
             "JSON: each frame says whose it is (project, stdlib, other)", str(origins))
    sarif = json.loads(text(args, ["check", trace, "--source-root", pkg, "--format", "sarif"], c))
    uris = [loc["physicalLocation"]["artifactLocation"] for run in sarif["runs"]
            for res in run["results"] for loc in res.get("locations", [])]
    c.expect({"uri": "views.py", "uriBaseId": "%SRCROOT%"} in uris,
             "SARIF: a relative URI under %SRCROOT% for the user's file", json.dumps(uris))
    config = os.path.join(tmp, "waitgraph.toml")
    with open(config, "w") as f:
        f.write('[paths]\nproject = "shopapp/env/lib/python3.11/site-packages/shop"\n')
    from_config = text(args, ["analyze", trace, "--config", config], c, env={"COLUMNS": "200"})
    c.expect("--> views.py:8 in tag_request" in from_config,
             "[paths] project in waitgraph.toml (relative to the file) sets the root", from_config)
    return as_library + as_project


def check_merging(args, trace, c):
    data = json.loads(text(args, ["analyze", trace, "--format", "json"], c))
    crossings = [f for f in data["findings"] if f["name"] == "loop-crossing"]
    c.expect(len(crossings) == 2 and len({f["fingerprint"] for f in crossings}) == 2,
             "JSON keeps both loop-crossing findings, each with its fingerprint")
    out = text(args, ["analyze", trace, "--source-root", CASES], c, env={"COLUMNS": "120"})
    heads = [l for l in out.splitlines() if l.startswith("error[WG201]")]
    c.expect(len(heads) == 1 and heads[0].endswith("(2 occurrences)"),
             "text: one queue used from two foreign loops is one finding, 2 occurrences", out)
    c.expect(out.count("also --> queue_across_thread_loops/program.py:63 in stop") == 1,
             "text: the other occurrence is named by its line", out)
    c.expect("1 error, 0 warnings, 0 notes" in out, "the summary counts the merged finding once", out)
    return out


def check_several_traces(args, deadlock, queue, tmp, c):
    copy = os.path.join(tmp, "deadlock-copy.wgtrace")
    shutil.copy(deadlock, copy)
    out = text(args, ["check", deadlock, queue, copy, "--source-root", CASES], c, env={"COLUMNS": "200"})
    lines = out.splitlines()
    starts = [i for i, l in enumerate(lines) if l.startswith("trace ")]
    c.expect(len(starts) == 3, "a summary line per trace", out)
    if len(starts) == 3:
        c.expect(all("process" in lines[i] and "error" in lines[i] for i in starts),
                 "each says its process and what was found in it")
        second = "\n".join(lines[starts[1]:starts[2]])
        first = "\n".join(lines[starts[0]:starts[1]])
        c.expect(queue in lines[starts[1]] and "error[WG201]" in second and "WG001" not in second,
                 "the loop-crossing finding is under its own trace")
        c.expect("error[WG001]" in first and "WG201" not in first, "the deadlock is under its own trace")
    c.expect("in 3 traces" in out, "a total summary over 3 traces", out)
    notes = [l for l in lines if l.startswith("note: the trace ends without a clean stop")]
    c.expect(len(notes) == 1 and "(in 2 traces)" in out, "a note of two traces is said once, with how many",
             out)
    return out


def check_explain(args, c):
    want = text(args, ["explain", "WG001"], c)
    for name in ("wg001", "Wg001", "CROSS-CALL-DEADLOCK", "cross-call-deadlock"):
        c.expect(text(args, ["explain", name], c) == want, "explain %s" % name)
    r = wgtest.run([args.waitgraph, "explain", "wg999"], limit=30)
    c.expect(r.returncode == 2, "explain of an unknown rule exits 2")
    with open(os.path.join(REPO, "docs", "design.md")) as f:
        headings = {l[3:].strip() for l in f if l.startswith("## ")}
    docs = os.path.join(REPO, "rules", "docs")
    for name in sorted(os.listdir(docs)):
        with open(os.path.join(docs, name)) as f:
            doc = f.read()
        c.expect("DESIGN.md" not in doc, "%s cites no DESIGN.md (not in the repo)" % name)
        for section in re.findall(r'docs/design\.md, "([^"]+)"', doc):
            c.expect(section in headings, "%s: docs/design.md has the section %r" % (name, section))


def check_grammar(outputs, c):
    bad = re.findall(r"\b1 (?:more )?(?:frames|errors|warnings|notes|events|traces|occurrences|items"
                     r"|waiters|event loops|times)\b|\(s\)|\b(?:[02-9]|\d\d+) event loop made\b", outputs)
    c.expect(not bad, "counts in good grammar (no '1 frames', '(s)', '3 event loop made')", str(bad))


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("text report")
    with wgtest.scratch_dir("wg-text-") as tmp:
        deadlock = os.path.join(tmp, "deadlock.wgtrace")
        queue = os.path.join(tmp, "queue.wgtrace")
        outputs = ""
        if record(args, os.path.join(CASES, "asgiref_cancelled_request_deadlock", "program.py"), deadlock, c,
                  hangs=True):
            outputs += check_wrapping(args, deadlock, c)
            outputs += check_folding(args, deadlock, c)
            check_colour(args, deadlock, c)
        if record(args, os.path.join(CASES, "queue_across_thread_loops", "program.py"), queue, c):
            outputs += check_merging(args, queue, c)
        if os.path.exists(deadlock) and os.path.exists(queue):
            outputs += check_several_traces(args, deadlock, queue, tmp, c)
        outputs += check_path_styles(args, tmp, c)
        check_explain(args, c)
        check_grammar(outputs, c)
    return c.finish()


if __name__ == "__main__":
    wgtest.main_guard(main)
