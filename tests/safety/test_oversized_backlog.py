#!/usr/bin/env python3
"""Issue 13 item 6: a backlog larger than the reader's frame cap (64 MiB)
is written as several chunks, all readable.

The writer is held back (WAITGRAPH_FLUSH_MS=10 min) while the program
records ~2M events with ~1M distinct strings (~90 MB encoded); the final
flush at exit must split them. `analyze` must then read every event with
no corruption note (it used to stop at one oversized frame: "corrupt").

usage: test_oversized_backlog.py --waitgraph BIN [--python PY]
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "scope_storm.py")
SCOPES = 1_000_000
MAX_FRAME = 64 << 20


def main():
    args = wgtest.tool_args()
    c = wgtest.Checker("oversized_backlog")
    with wgtest.scratch_dir("wg-backlog-") as tmp:
        check(args, tmp, c)
    return c.finish()


def check(args, tmp, c):
    trace = os.path.join(tmp, "backlog.wgtrace")
    env = wgtest.env_without_waitgraph()
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(TMPDIR=tmp, WAITGRAPH_FLUSH_MS="600000", WAITGRAPH_STORAGE_TIMEOUT_MS="120000")
    env = wgtest.shim_env(args.waitgraph, trace, env, checker=c)
    r = wgtest.run([args.python, PROGRAM, str(SCOPES)], limit=180, env=env)
    c.expect(r.returncode == 0 and r.stdout == b"scopes %d recording True\n" % SCOPES and not r.stderr,
             "the program recorded the whole backlog without a warning", r.describe())
    size = 0
    if os.path.exists(trace):
        with open(trace, "rb") as f:
            size = len(wgtest.plain_payloads(f.read()))  # uncompressed: what the writer splits by
    c.expect(size > MAX_FRAME, "the backlog is larger than one frame may be (%d MB uncompressed)" % (size >> 20))
    largest = largest_frame(trace)
    c.expect(0 < largest <= MAX_FRAME, "every frame is within the reader's cap (largest %d bytes)" % largest)
    a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=180)
    if c.expect(a.returncode == 0, "`analyze` reads the trace", a.describe()):
        data = json.loads(a.stdout)
        events = data["traces"][0]["events"]
        c.expect(events >= 2 * SCOPES, "every event was read (%d)" % events)
        c.expect(not data["notes"], "no note about corruption or truncation", "\n".join(data["notes"]))


def largest_frame(path):
    """The largest frame payload in the trace (headers only: no checksums)."""
    import struct
    largest = 0
    with open(path, "rb") as f:
        if f.read(8) != b"WGTRACE1":
            return 0
        while True:
            header = f.read(12)
            if len(header) < 12:
                return largest
            _, size, _ = struct.unpack("<III", header)
            largest = max(largest, size)
            f.seek(size, os.SEEK_CUR)


if __name__ == "__main__":
    wgtest.main_guard(main)
