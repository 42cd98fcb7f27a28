#!/usr/bin/env python3
"""Issue 13: a real full disk. The trace goes to a 64 KiB tmpfs, mounted in
a private mount namespace (`unshare --mount`, so nothing is seen outside
this test and the mount goes with it), while a busy program
(programs/chatty.py) records far more than that: its output and exit status
are those of a run without the shim, the shim prints one warning (no space
left on device), and the trace is readable up to its last whole chunk; the
same with a bounded trace (a flight recorder) whose wrap finds no room.
test_fault_injection.py simulates the same with RLIMIT_FSIZE (EFBIG); this
is the real ENOSPC.

Needs root (or the right to make a mount namespace) and tmpfs: otherwise it
says why and exits 77, which ctest counts as skipped.

usage: test_full_disk.py --waitgraph BIN [--python PY]
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import wgtest  # noqa: E402
from test_fault_injection import check_trace  # noqa: E402

SKIP = 77
DISK = "64k"
INSIDE = "WG_FULL_DISK_NAMESPACE"


def skip(why):
    print("SKIP: %s" % why)
    return SKIP


def enter_namespace():
    """Runs this script again in a private mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return skip("no unshare(1) here")
    probe = subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if probe.returncode != 0:
        return skip("cannot make a mount namespace (%s)" % probe.stdout.decode(errors="replace").strip())
    argv = [unshare, "--mount", "--propagation", "private", sys.executable, os.path.abspath(__file__)]
    return subprocess.run(argv + sys.argv[1:], env=dict(os.environ, **{INSIDE: "1"})).returncode


def main():
    if os.environ.get(INSIDE) != "1":
        return enter_namespace()
    args = wgtest.tool_args()
    c = wgtest.Checker("full_disk")
    with wgtest.scratch_dir("wg-full-disk-") as tmp:
        disk = os.path.join(tmp, "disk")
        os.mkdir(disk, 0o700)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % DISK, "wgfull", disk],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if mounted.returncode != 0:
            return skip("cannot mount a tmpfs (%s)" % mounted.stdout.decode(errors="replace").strip())
        try:
            full_disk(args, tmp, disk, c)
        finally:
            subprocess.run(["umount", disk])
    return c.finish()


def full_disk(args, tmp, disk, c):
    base = wgtest.env_without_waitgraph()
    base.pop("XDG_RUNTIME_DIR", None)
    base.pop("WAITGRAPH_TRACE_MAX", None)
    base["TMPDIR"] = tmp
    argv = [args.python, os.path.join(HERE, "programs", "chatty.py"), "20000"]
    plain = wgtest.run(argv, limit=60, env=base)
    # As the environment-variable mode starts it (a 256M ring: the disk
    # fills before it wraps), then a 64K ring, whose wrap finds no room for
    # its copy: the same single warning, the file left whole.
    for what, trace_max in (("full disk", None), ("full disk, bounded trace", "64K")):
        trace = os.path.join(disk, "full.wgtrace")
        if os.path.exists(trace):
            os.unlink(trace)
        env = dict(base, WAITGRAPH_TRACE_MAX=trace_max) if trace_max else base
        shim = wgtest.run(argv, limit=60, env=wgtest.shim_env(args.waitgraph, trace, env, checker=c))
        c.expect(not shim.timed_out and (shim.stdout, shim.returncode) == (plain.stdout, plain.returncode) and
                 plain.returncode == 0 and plain.stderr == b"",
                 "%s: same output and exit status as without the shim" % what,
                 "without:\n%s\nwith:\n%s" % (plain.describe(), shim.describe()))
        lines = shim.stderr.decode("utf-8", "replace").splitlines()
        c.expect(len(lines) == 1 and lines[0].startswith("waitgraph: ") and
                 "No space left on device" in lines[0],
                 "%s: one warning from the shim, saying the disk is full" % what, shim.describe())
        c.expect(os.listdir(disk) == ["full.wgtrace"], "%s: nothing left beside the trace (%s)"
                 % (what, os.listdir(disk)))
        check_trace(args, trace, what, c)


if __name__ == "__main__":
    wgtest.main_guard(main)
