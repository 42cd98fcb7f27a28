"""Shared helpers for waitgraph's integration tests (stdlib only).

Each test script is a plain program: it prints what it checks, collects
failures with `Checker.fail`, and exits 0 when none, 1 otherwise.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

FILE_MAGIC = b"WGTRACE1"
FRAME_MAGIC = 0x31434757  # "WGC1"
FRAME_HEADER = struct.Struct("<III")  # magic, payload size, fnv1a32(payload)
SEVERITY_RANK = {"note": 0, "warning": 1, "error": 2}
DEFAULT_PYTHON = "/usr/bin/python3"


class Checker:
    """Collects failures instead of stopping at the first one."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def fail(self, what, detail=""):
        self.failures.append(what)
        print("FAIL: " + what)
        if detail:
            print(indent(detail))

    def ok(self, what):
        print("ok:   " + what)

    def expect(self, condition, what, detail=""):
        if condition:
            self.ok(what)
        else:
            self.fail(what, detail)
        return condition

    def finish(self):
        if self.failures:
            print("\n%s: %d failure(s)" % (self.name, len(self.failures)))
            for f in self.failures:
                print("  - " + f)
            return 1
        print("\n%s: passed" % self.name)
        return 0


def tool_args():
    """--waitgraph BIN [--python PY], the arguments every CLI-level test takes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=DEFAULT_PYTHON)
    args = ap.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)
    return args


@contextlib.contextmanager
def scratch_dir(prefix):
    """A private temporary directory, removed afterwards whatever happens."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def env_without_waitgraph():
    """This process's environment less every WAITGRAPH_ variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_")}


def indent(text, prefix="      | "):
    text = text if isinstance(text, str) else text.decode("utf-8", "replace")
    lines = text.rstrip("\n").splitlines() or ["<empty>"]
    if len(lines) > 60:
        lines = lines[:30] + ["... (%d lines cut) ..." % (len(lines) - 60)] + lines[-30:]
    return "\n".join(prefix + line for line in lines)


def shim_dir(waitgraph_bin):
    """The shim's Python package directory: <dir of BIN>/../lib/waitgraph/python."""
    return os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(waitgraph_bin)), "..", "lib", "waitgraph", "python"))


def shim_env(waitgraph_bin, trace_path, extra=None, checker=None):
    """Environment that enables the shim without the CLI."""
    if checker is not None and not os.path.isdir(shim_dir(waitgraph_bin)):
        checker.fail("no shim package at %s (is the shim built?)" % shim_dir(waitgraph_bin))
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = shim_dir(waitgraph_bin) + (os.pathsep + old if old else "")
    env["WAITGRAPH_TRACE"] = trace_path
    env.update(extra or {})
    return env


class Result:
    def __init__(self, argv, returncode, stdout, stderr, elapsed, timed_out):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.timed_out = timed_out

    def describe(self):
        return "$ %s\nexit %s after %.2f s%s\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(self.argv), self.returncode, self.elapsed,
            " (KILLED: wall-clock limit)" if self.timed_out else "",
            self.stdout.decode("utf-8", "replace").rstrip(),
            self.stderr.decode("utf-8", "replace").rstrip())


def run(argv, limit, env=None, cwd=None, stdin=subprocess.DEVNULL):
    """Runs argv in its own process group; kills the whole group at `limit` s."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as e:  # missing or non-executable binary: a failure to report, not a crash
        return Result([str(a) for a in argv], None, b"", ("cannot start: %s" % e).encode(), 0.0, False)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
        out, err = proc.communicate()
    return Result([str(a) for a in argv], proc.returncode, out, err, time.monotonic() - start, timed_out)


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def load_json(text, what, checker):
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        checker.fail("%s is not valid JSON: %s" % (what, e), text if isinstance(text, str) else text[:2000])
        return None


def findings_of(report, what, checker):
    """The findings list of a JSON report, after checking each finding's shape."""
    if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
        checker.fail("%s has no \"findings\" list" % what, json.dumps(report, indent=2)[:3000])
        return None
    findings = report["findings"]
    for i, f in enumerate(findings):
        problems = []
        for key in ("code", "name", "severity", "message"):
            if not isinstance(f.get(key), str) or not f.get(key):
                problems.append("missing or empty %r" % key)
        if f.get("severity") not in SEVERITY_RANK:
            problems.append("severity %r not one of %s" % (f.get("severity"), sorted(SEVERITY_RANK)))
        locs = f.get("locations", [])
        if not isinstance(locs, list):
            problems.append("\"locations\" is not a list")
        else:
            for loc in locs:
                if not isinstance(loc, dict) or not isinstance(loc.get("path"), str) \
                        or not isinstance(loc.get("line"), int):
                    problems.append("location without path/line: %r" % (loc,))
                    break
        if problems:
            checker.fail("%s finding #%d (%s) is malformed: %s" % (what, i, f.get("name"), "; ".join(problems)),
                         json.dumps(f, indent=2))
    return findings


def summarize(findings):
    return "\n".join("%s %s [%s] %s" % (f.get("code"), f.get("name"), f.get("severity"), f.get("message"))
                     for f in findings) or "(no findings)"


def all_strings(value):
    """Every string inside a JSON value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def incidental(finding):
    """A loop-stall note about a module being imported: on a loaded machine a
    library's lazy import at start-up (uvicorn imports its protocol modules
    inside its serving task) passes the stall threshold. The note is true,
    about the machine, never a case's subject unless the case lists
    loop-stall: `absent` and `only_listed` do not count it."""
    return (finding.get("name") == "loop-stall" and finding.get("severity") == "note"
            and "importing a module" in finding.get("message", ""))


def check_findings(findings, expect, what, checker):
    """Checks a findings list against an expect.json description."""
    listed_names = {want["name"] for want in expect.get("findings", [])}
    subject = [f for f in findings if f.get("name") in listed_names or not incidental(f)]
    names = [f.get("name") for f in subject]
    listed = set()
    for want in expect.get("findings", []):
        name = want["name"]
        listed.add(name)
        matches = [f for f in findings if f.get("name") == name]
        if not matches:
            checker.fail("%s: expected finding %s is missing" % (what, name), summarize(findings))
            continue
        checker.ok("%s: %s present" % (what, name))
        # Several findings of one rule (a stall at start-up besides the one
        # the case is about): the severity is that of those that say what
        # the case expects.
        phrases = want.get("message_contains", [])
        described = [f for f in matches
                     if all(any(p in t for t in all_strings(f)) for p in phrases)]
        if "severity" in want:
            bad = [f for f in (described or matches) if f.get("severity") != want["severity"]]
            checker.expect(not bad, "%s: %s has severity %s" % (what, name, want["severity"]),
                           "got: %s" % ", ".join(str(f.get("severity")) for f in bad))
        # Each phrase must appear in the message or, failing that, anywhere in
        # the finding (locations, related locations, notes) of some match.
        for phrase in want.get("message_contains", []):
            in_message = any(phrase in f.get("message", "") for f in matches)
            anywhere = any(phrase in s for f in matches for s in all_strings(f))
            checker.expect(in_message or anywhere,
                           "%s: %s mentions %r%s" % (what, name, phrase,
                                                     "" if in_message or not anywhere else " (in its locations)"),
                           "\n".join(json.dumps(f, indent=2) for f in matches))
        # The fix must fit what was found (and not suggest what cannot apply).
        for phrase in want.get("fix_contains", []):
            checker.expect(any(phrase in f.get("fix", "") for f in matches),
                           "%s: %s's fix mentions %r" % (what, name, phrase),
                           "\n".join(f.get("fix", "") for f in matches))
        for phrase in want.get("message_absent", []):
            checker.expect(not any(phrase in f.get("message", "") for f in matches),
                           "%s: no %s message says %r" % (what, name, phrase),
                           "\n".join(f.get("message", "") for f in matches))
        for phrase in want.get("fix_absent", []):
            checker.expect(not any(phrase in f.get("fix", "") for f in matches),
                           "%s: %s's fix does not mention %r" % (what, name, phrase),
                           "\n".join(f.get("fix", "") for f in matches))
    for name in expect.get("absent", []):
        checker.expect(name not in names, "%s: no %s finding" % (what, name), summarize(subject))
    if "max_severity" in expect:
        # "note": the program must give no warning or error at all.
        limit = SEVERITY_RANK[expect["max_severity"]]
        worse = [f for f in findings if SEVERITY_RANK.get(f.get("severity"), -1) > limit]
        checker.expect(not worse, "%s: nothing above %s" % (what, expect["max_severity"]),
                       summarize(worse))
    if expect.get("only_listed"):
        extra = [f for f in subject if f.get("name") not in listed]
        checker.expect(not extra, "%s: no findings besides %s" % (what, sorted(listed) or "none"),
                       summarize(extra))


def worst_severity(findings):
    ranks = [SEVERITY_RANK.get(f.get("severity"), -1) for f in findings]
    return max(ranks) if ranks else -1


def read_frames(data):
    """Splits trace bytes into frames: list of (offset, end) plus the trailing
    byte count that does not form a whole frame. Raises ValueError on a bad
    header, a bad frame magic or a checksum mismatch."""
    if not data.startswith(FILE_MAGIC):
        raise ValueError("trace does not start with %r: %r" % (FILE_MAGIC, data[:8]))
    pos = len(FILE_MAGIC)
    frames = []
    while len(data) - pos >= FRAME_HEADER.size:
        magic, size, checksum = FRAME_HEADER.unpack_from(data, pos)
        if magic != FRAME_MAGIC:
            raise ValueError("bad frame magic 0x%08x at byte %d" % (magic, pos))
        end = pos + FRAME_HEADER.size + size
        if end > len(data):
            break
        payload = data[pos + FRAME_HEADER.size:end]
        if fnv1a32(payload) != checksum:
            raise ValueError("checksum mismatch in frame at byte %d" % pos)
        frames.append((pos, end))
        pos = end
    return frames, len(data) - pos


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def wait_for_file(path, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > len(FILE_MAGIC):
            return True
        time.sleep(0.05)
    return False


def main_guard(fn):
    """Runs fn() and exits with its status; an unexpected exception in the
    test itself is reported as a failure, not a crash with exit 1 only."""
    try:
        sys.exit(fn())
    except SystemExit:
        raise
    except BaseException:
        import traceback
        traceback.print_exc()
        print("FAIL: the test itself raised (see above)")
        sys.exit(1)


# --- Minimal trace decoding (enough for "did the shim see X?") --------------
# Decodes TraceChunk.strings and TraceChunk.events with a tiny protobuf
# reader, so the tests need no generated code. Event kind names come from
# trace/waitgraph_trace.proto itself.

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "trace", "waitgraph_trace.proto")


def event_kind_names():
    import re
    with open(PROTO) as f:
        text = f.read()
    body = text[text.index("enum EventKind"):]
    body = body[:body.index("}")]
    return {int(v): k for k, v in re.findall(r"^\s*([A-Z_]+)\s*=\s*(\d+);", body, re.M)}


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of one message; value is an int or bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield field, wire, value


def zstd_decompress(packed):
    """A format-2 chunk body (TraceChunk.zstd_body), through Debian's libzstd
    (ctypes: the tests need no Python zstd package)."""
    import ctypes
    lib = ctypes.CDLL("libzstd.so.1")
    lib.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
    lib.ZSTD_getFrameContentSize.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.ZSTD_decompress.restype = ctypes.c_size_t
    lib.ZSTD_decompress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    size = lib.ZSTD_getFrameContentSize(packed, len(packed))
    if size >= (1 << 63):
        raise ValueError("chunk body is not a zstd frame of known size")
    out = ctypes.create_string_buffer(max(size, 1))
    n = lib.ZSTD_decompress(out, size, packed, len(packed))
    if lib.ZSTD_isError(n) or n != size:
        raise ValueError("chunk body does not decompress")
    return out.raw[:size]


def chunk_fields(payload):
    """The fields of a frame's TraceChunk, a format-2 body decompressed."""
    for field, wire, value in _fields(payload):
        if field == 10 and wire == 2:  # zstd_body
            yield from _fields(zstd_decompress(bytes(value)))
        else:
            yield field, wire, value


def plain_payloads(data):
    """The whole chunks of a trace as uncompressed TraceChunk bytes, joined:
    what a test searches for a string (format 2 compresses chunk bodies)."""
    frames, _ = read_frames(data)
    out = []
    for start, end in frames:
        payload = data[start + FRAME_HEADER.size:end]
        for field, wire, value in _fields(payload):
            out.append(zstd_decompress(bytes(value)) if field == 10 and wire == 2 else b"")
        out.append(bytes(payload))
    return b"".join(out)


def decode_events(data):
    """[(kind name, name string or "")] of every event in the whole chunks of a trace."""
    kinds = event_kind_names()
    frames, _ = read_frames(data)
    strings, events = {}, []
    for start, end in frames:
        payload = data[start + FRAME_HEADER.size:end]
        for field, wire, value in chunk_fields(payload):
            if field == 4 and wire == 2:      # InternedString
                sid, sval = 0, ""
                for f, _, v in _fields(value):
                    if f == 1:
                        sid = v
                    elif f == 2:
                        sval = v.decode("utf-8", "replace")
                strings[sid] = sval
            elif field == 8 and wire == 2:    # Event
                kind, name = 0, 0
                for f, _, v in _fields(value):
                    if f == 3:
                        kind = v
                    elif f == 7:
                        name = v
                events.append((kind, name))
    return [(kinds.get(k, "KIND_%d" % k), strings.get(n, "") if n else "") for k, n in events]
