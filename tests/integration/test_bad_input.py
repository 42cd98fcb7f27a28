#!/usr/bin/env python3
"""waitgraph on bad input: clear one-line errors, exit codes, no crashes.

  - analyze/check of a garbage file, an empty file, a missing path, a
    directory: exit 2, exactly one line on stderr;
  - analyze of a valid trace cut in the middle of its last chunk: exit 0, the
    findings of the earlier chunks, and a note about the truncation;
  - a crafted trace holding a string that is not UTF-8: exactly waitgraph's
    own one-line error (protobuf's own complaint is not printed), or, after
    a good chunk, the earlier chunks analysed with a note (issue 13);
  - bad flags and unknown subcommands: exit 2, the program is not run;
  - `run` of a non-Python program: behaves as the program (status, output)
    and says in one line that no trace was recorded.

usage: test_bad_input.py --waitgraph BIN [--python PY]
"""
import argparse
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wgtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRACE_PROGRAM = os.path.join(HERE, "programs", "repeated_pipeline.py")
CRASH_SIGNS = (b"Traceback", b"terminate called", b"Segmentation fault", b"Aborted", b"core dumped",
               b"AddressSanitizer", b"Check failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = ap.parse_args()
    c = wgtest.Checker("bad_input")
    tmp = tempfile.mkdtemp(prefix="wg-bad-")
    try:
        unreadable_inputs(args.waitgraph, tmp, c)
        truncated_trace(args, tmp, c)
        invalid_utf8(args.waitgraph, tmp, c)
        bad_flags(args.waitgraph, tmp, c)
        non_python_program(args.waitgraph, tmp, c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return c.finish()


def no_crash(r):
    return r.returncode is not None and r.returncode >= 0 and not r.timed_out \
        and not any(s in r.stderr for s in CRASH_SIGNS)


def stderr_lines(r):
    return [l for l in r.stderr.decode("utf-8", "replace").splitlines() if l.strip()]


def unreadable_inputs(wg, tmp, c):
    print("== unreadable inputs")
    garbage = os.path.join(tmp, "garbage.wgtrace")
    with open(garbage, "wb") as f:
        f.write(bytes((i * 7919 + 13) % 256 for i in range(4096)))
    bad_header = os.path.join(tmp, "bad-header.wgtrace")
    with open(bad_header, "wb") as f:
        f.write(b"WGTRACE9" + b"\0" * 64)
    empty = os.path.join(tmp, "empty.wgtrace")
    open(empty, "wb").close()
    directory = os.path.join(tmp, "a-directory")
    os.mkdir(directory)
    missing = os.path.join(tmp, "does-not-exist.wgtrace")
    for path, what in ((garbage, "a garbage file"), (bad_header, "a file with a wrong header"),
                       (empty, "an empty file"), (missing, "a nonexistent path"), (directory, "a directory")):
        for argv in (["analyze", path], ["analyze", path, "--format", "json"], ["check", path]):
            r = wgtest.run([wg] + argv, limit=30)
            lines = stderr_lines(r)
            c.expect(r.returncode == 2 and len(lines) == 1 and no_crash(r),
                     "`%s` on %s: exit 2, one line on stderr%s" % (
                         argv[0] + (" --format json" if "json" in argv else ""), what,
                         " (%s)" % lines[0] if len(lines) == 1 else ""),
                     r.describe())


def varint(n):
    out = b""
    while True:
        low, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def field(number, payload):
    """A protobuf field: an int (varint) or bytes (length-delimited)."""
    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def frame(payload):
    """trace/chunk_file.h: magic, size, fnv1a32 of the payload, payload."""
    h = 2166136261
    for byte in payload:
        h = ((h ^ byte) * 16777619) & 0xffffffff
    return struct.pack("<III", 0x31434757, len(payload), h) + payload


def interned_string_chunk(sequence, string_id, value):
    """An uncompressed (format 1) TraceChunk defining one interned string."""
    return field(1, 1) + field(2, sequence) + field(4, field(1, string_id) + field(2, value))


def invalid_utf8(wg, tmp, c):
    print("== a string that is not UTF-8")
    bad = interned_string_chunk(0, 1, b"caf\xe9 \xff")
    first = os.path.join(tmp, "not-utf8.wgtrace")
    with open(first, "wb") as f:
        f.write(b"WGTRACE1" + frame(bad))
    want = ("waitgraph: trace %s is corrupt at byte 8 (chunk 0 does not decode: damaged, or a string in "
            "it is not UTF-8); pass a trace written by `waitgraph run --trace` or WAITGRAPH_TRACE" % first)
    for argv in (["analyze", first], ["check", first]):
        r = wgtest.run([wg] + argv, limit=30)
        c.expect(r.returncode == 2 and stderr_lines(r) == [want] and no_crash(r),
                 "`%s` of a trace whose first chunk is not UTF-8: exit 2, exactly one line" % argv[0],
                 r.describe())
    later = os.path.join(tmp, "not-utf8-later.wgtrace")
    with open(later, "wb") as f:
        f.write(b"WGTRACE1" + frame(interned_string_chunk(0, 1, b"fine")) +
                frame(interned_string_chunk(1, 2, b"caf\xe9 \xff")))
    r = wgtest.run([wg, "analyze", later], limit=30)
    c.expect(r.returncode == 0 and stderr_lines(r) == [] and no_crash(r) and
             b"is corrupt at byte 34 (chunk 1 does not decode: damaged, or a string in it is not UTF-8)"
             in b" ".join(r.stdout.split()),  # the text report wraps its notes
             "`analyze` of a trace whose second chunk is not UTF-8: exit 0, the note, nothing on stderr",
             r.describe())


def truncated_trace(args, tmp, c):
    print("== a trace cut in the middle of its last chunk")
    wg = args.waitgraph
    trace = os.path.join(tmp, "full.wgtrace")
    r = wgtest.run([args.python, TRACE_PROGRAM], limit=30, env=wgtest.shim_env(wg, trace, checker=c))
    if not c.expect(r.returncode == 0 and os.path.exists(trace), "recorded a trace with the shim",
                    r.describe() + ("" if os.path.exists(trace) else "\n(no trace file at %s)" % trace)):
        return
    with open(trace, "rb") as f:
        data = f.read()
    try:
        frames, tail = wgtest.read_frames(data)
    except ValueError as e:
        c.fail("the recorded trace is malformed: %s" % e)
        return
    if not c.expect(len(frames) >= 2, "the recorded trace has several chunks (%d)" % len(frames)):
        return
    last_start, last_end = frames[-1]
    prefix = os.path.join(tmp, "earlier-chunks.wgtrace")   # every chunk but the last, whole
    with open(prefix, "wb") as f:
        f.write(data[:last_start])
    cut = os.path.join(tmp, "truncated.wgtrace")            # ... plus half of the last chunk
    cut_at = last_start + (last_end - last_start) // 2
    with open(cut, "wb") as f:
        f.write(data[:cut_at])
    print("cut %d-byte trace at byte %d, inside its last chunk (bytes %d-%d)" % (len(data), cut_at, last_start, last_end))

    def names(path, what):
        r = wgtest.run([wg, "analyze", path, "--format", "json"], limit=60)
        if not c.expect(r.returncode == 0 and no_crash(r), "`analyze` of %s exits 0" % what, r.describe()):
            return None, r
        report = wgtest.load_json(r.stdout, "analyze of " + what, c)
        findings = wgtest.findings_of(report, what, c) if report is not None else None
        return (None if findings is None else sorted(f["name"] for f in findings)), r

    want, _ = names(prefix, "the earlier chunks")
    got, r_json = names(cut, "the truncated trace")
    if want is not None:
        c.expect(want, "the earlier chunks alone give findings (%s)" % want)
    if want is not None and got is not None:
        c.expect(got == want, "the truncated trace gives the earlier chunks' findings",
                 "truncated: %s\nearlier chunks: %s" % (got, want))
    c.expect(b"truncat" in (r_json.stdout + r_json.stderr).lower(), "`analyze --format json` notes the truncation",
             r_json.describe())
    t = wgtest.run([wg, "analyze", cut], limit=60)
    c.expect(t.returncode == 0 and b"truncat" in (t.stdout + t.stderr).lower() and no_crash(t),
             "`analyze` (text) of the truncated trace exits 0 and notes the truncation", t.describe())
    k = wgtest.run([wg, "check", cut, "--fail-on", "never"], limit=60)
    c.expect(k.returncode == 0 and no_crash(k), "`check --fail-on never` of the truncated trace exits 0",
             k.describe())


def bad_flags(wg, tmp, c):
    print("== bad flags")
    some_trace = os.path.join(tmp, "earlier-chunks.wgtrace")
    if not os.path.exists(some_trace):
        some_trace = os.path.join(tmp, "garbage.wgtrace")
    marker = os.path.join(tmp, "program-ran")
    touch = ["/bin/sh", "-c", "touch '%s'" % marker]
    cases = [
        ([], "no subcommand"),
        (["frobnicate"], "an unknown subcommand"),
        (["analyze"], "analyze without a trace"),
        (["analyze", some_trace, "--format", "yaml"], "analyze --format yaml"),
        (["analyze", "--no-such-flag", some_trace], "analyze --no-such-flag"),
        (["check"], "check without a trace"),
        (["check", some_trace, "--fail-on", "sometimes"], "check --fail-on sometimes"),
        (["run"], "run without a program"),
        (["run", "--hang-timeout", "abc", "--"] + touch, "run --hang-timeout abc"),
        (["run", "--format", "xml", "--"] + touch, "run --format xml"),
        (["run", "--no-such-flag", "--"] + touch, "run --no-such-flag"),
        (["live"], "live without a target"),
    ]
    for argv, what in cases:
        r = wgtest.run([wg] + argv, limit=30)
        c.expect(r.returncode == 2 and no_crash(r) and stderr_lines(r), "%s: exit 2 with a message" % what,
                 r.describe())
    c.expect(not os.path.exists(marker), "a `run` with bad flags does not start the program")


def non_python_program(wg, tmp, c):
    print("== run a program that is not Python")
    trace = os.path.join(tmp, "echo.wgtrace")
    r = wgtest.run([wg, "run", "--trace", trace, "--", "/bin/echo", "hi"], limit=30)
    lines = stderr_lines(r)
    c.expect(r.returncode == 0 and no_crash(r), "`run -- /bin/echo hi` exits 0", r.describe())
    c.expect(r.stdout == b"hi\n", "its output is intact", "stdout: %r" % r.stdout)
    c.expect(len(lines) == 1 and "trace" in lines[0].lower(),
             "it says in one line that no trace was recorded", r.describe())
    r = wgtest.run([wg, "run", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 7"], limit=30)
    c.expect(r.returncode == 7 and r.stdout == b"out\n" and b"err\n" in r.stderr and no_crash(r),
             "`run -- sh -c '...; exit 7'` exits 7 with its output intact", r.describe())
    r = wgtest.run([wg, "run", "--", os.path.join(tmp, "no-such-program")], limit=30)
    c.expect(r.returncode not in (0, None) and no_crash(r) and stderr_lines(r),
             "`run` of a missing program fails with a message, not a crash", r.describe())


if __name__ == "__main__":
    wgtest.main_guard(main)
