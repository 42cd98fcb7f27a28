#!/usr/bin/env python3
"""The README's sample outputs are real: each block that follows a
`<!-- sample: COMMAND -->` line is the output of COMMAND, run from the
repository's root (stdout and stderr as a terminal would interleave them,
80 columns, no colour).

  readme_samples.py --write [--readme README.md] [--waitgraph BIN]   regenerate the blocks
  readme_samples.py --check [--readme README.md] [--waitgraph BIN]   exit 1 if one is stale

--check compares what cannot vary between runs and machines: the words, with
numbers (pids, times, event counts) and run directories masked, whitespace
(wrapping of paths of other lengths) ignored.
"""
import argparse
import os
import re
import subprocess
import sys

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MARKER = re.compile(r"^<!-- sample: (.+) -->$")


def run(command, waitgraph):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}
    env.update({"COLUMNS": "80", "NO_COLOR": "1"})
    if waitgraph:  # the binary of another build directory than build/
        command = re.sub(r"^build/bin/waitgraph\b", lambda _: waitgraph, command)
    p = subprocess.run(command, shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    return p.stdout.decode("utf-8", "replace").rstrip("\n")


def blocks(lines):
    """(marker index, command, first and last line of the fenced block after it)."""
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        start = i + 1
        if start >= len(lines) or not lines[start].startswith("```"):
            raise SystemExit("README line %d: a sample marker must be followed by a ``` block" % (i + 1))
        end = start + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        yield i, m.group(1), start, end


def masked(text):
    text = re.sub(r"\S*/run-\d+-\w+/", "<run-dir>/", text)
    text = re.sub(r"\d+(\.\d+)?", "#", text)
    return " ".join(text.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("--readme", default=os.path.join(REPO, "README.md"))
    ap.add_argument("--waitgraph", help="the CLI to run for build/bin/waitgraph")
    args = ap.parse_args()
    with open(args.readme) as f:
        lines = f.read().split("\n")
    stale = []
    for i, command, start, end in reversed(list(blocks(lines))):
        output = run(command, args.waitgraph)
        fresh = ["$ " + command] + output.split("\n")
        if args.write:
            lines[start + 1:end] = fresh
        elif masked("\n".join(lines[start + 1:end])) != masked("\n".join(fresh)):
            stale.append((i + 1, command, "\n".join(lines[start + 1:end]), "\n".join(fresh)))
    if args.write:
        with open(args.readme, "w") as f:
            f.write("\n".join(lines))
        return 0
    for line, command, old, new in stale:
        print("README line %d: the sample of `%s` is not what it prints now\n--- README\n%s\n--- now\n%s\n"
              % (line, command, old, new))
    checked = len(list(blocks(lines)))
    print("%d %s checked, %d stale" % (checked, "sample" if checked == 1 else "samples", len(stale)))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
