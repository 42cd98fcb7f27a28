#!/usr/bin/env python3
"""Issue 13 item 2: traces and live pointers in shared temporary directories.

Another local user (`nobody`, through setpriv; the test runs as root) plants
files where the shim would write. None of them may be followed, reused or
written through:
  - a symlink at the trace path, pointing at a root-owned 0600 file;
  - a file pre-created at the trace path by the other user;
  - the per-user directory (${TMPDIR}/waitgraph-<uid>) pre-created by the
    other user, or a symlink there: `run` refuses it, the shim writes no
    pointer, and nothing lands in it.
  - a symlink at `--model-stats FILE`'s old temporary name (FILE.tmp);
  - a symlink at `run --report FILE` aiming at a root-only file (the report
    replaces the symlink), or at a device (/dev/null: refused, exit 4);
    `--report /dev/stdout` still prints the report (cli/output_file.h).
Traces are created 0600, the per-user directory and run directories 0700,
and the program's arguments are recorded only with an opt-in.

usage: test_private_files.py --waitgraph BIN [--python PY]
"""
import argparse
import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "small_service.py")
SECRET = "--password=hunter2-not-for-traces"
LIMIT = 30.0
UMASK = os.umask(0o022)
os.umask(UMASK)


def as_nobody(*argv):
    """Runs argv as the unprivileged user `nobody` (the planted files' owner)."""
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                          check=True, capture_output=True)


def clean_env(shared):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAITGRAPH_") and k != "PYTHONPATH"}
    env["TMPDIR"] = shared
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--waitgraph", required=True)
    ap.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = ap.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)
    c = wgtest.Checker("private_files")
    root = tempfile.mkdtemp(prefix="wg-private-")
    os.chmod(root, 0o755)  # the other user must reach the shared directories inside
    try:
        checks = [planted_symlink, precreated_file, foreign_user_dir, symlinked_user_dir,
                  planted_stats_symlink, planted_report_symlinks]
        if os.geteuid() != 0:  # setpriv needs root to act as another user
            print("not root: skipping the checks with files planted by another user")
            checks = []
        for check in checks + [modes_and_argv]:
            shared = os.path.join(root, check.__name__)
            os.mkdir(shared)
            os.chmod(shared, 0o1777)  # like /tmp: everybody may create files
            check(args, shared, c)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return c.finish()


def root_only_file(shared):
    """A root-owned 0600 file holding "root's data": what a planted symlink aims at."""
    victim = os.path.join(shared, "root-only.txt")
    with open(victim, "w") as f:
        f.write("root's data\n")
    os.chmod(victim, 0o600)
    return victim


def run_with_shim(args, shared, trace, c, extra=None):
    env = wgtest.shim_env(args.waitgraph, trace, clean_env(shared), checker=c)
    env.update(extra or {})
    r = wgtest.run([args.python, PROGRAM, SECRET], limit=LIMIT, env=env, cwd=shared)
    plain = wgtest.run([args.python, PROGRAM, SECRET], limit=LIMIT, env=clean_env(shared), cwd=shared)
    c.expect(not r.timed_out and (r.returncode, r.stdout, r.stderr) == (plain.returncode, plain.stdout, plain.stderr),
             "the program's output and status are unchanged by the shim", r.describe())
    return r


def planted_symlink(args, shared, c):
    print("== a symlink planted at the trace path")
    victim = root_only_file(shared)
    trace = os.path.join(shared, "app.wgtrace")
    as_nobody("ln", "-s", victim, trace)
    run_with_shim(args, shared, trace, c)
    with open(victim) as f:
        c.expect(f.read() == "root's data\n", "the symlink's target is untouched")
    c.expect(os.path.islink(trace), "the planted symlink is still a symlink (not replaced)")
    own = glob.glob(os.path.join(shared, "app.*.wgtrace"))
    if c.expect(len(own) == 1, "the trace went to a file of its own beside it", str(own)):
        st = os.lstat(own[0])
        c.expect(stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and mode(own[0]) == 0o600,
                 "that trace is a regular file of ours, mode 0600 (got %04o)" % mode(own[0]))


def precreated_file(args, shared, c):
    print("== a file pre-created at the trace path by another user")
    trace = os.path.join(shared, "app.wgtrace")
    as_nobody("sh", "-c", "echo planted > %s && chmod 666 %s" % (trace, trace))
    run_with_shim(args, shared, trace, c)
    with open(trace) as f:
        c.expect(f.read() == "planted\n", "the other user's file is not written")
    own = glob.glob(os.path.join(shared, "app.*.wgtrace"))
    c.expect(len(own) == 1 and os.lstat(own[0]).st_uid == os.geteuid(),
             "the trace went to a new file of ours", str(own))


def planted_stats_symlink(args, shared, c):
    print("== a symlink planted where --model-stats once wrote its temporary file")
    victim = root_only_file(shared)
    stats = os.path.join(shared, "stats.json")
    as_nobody("ln", "-s", victim, stats + ".tmp")
    r = wgtest.run([args.waitgraph, "run", "--model-stats", stats, "--", args.python, PROGRAM],
                   limit=LIMIT, env=clean_env(shared), cwd=shared)
    c.expect(r.returncode == 0, "`run --model-stats` runs the program", r.describe())
    with open(victim) as f:
        c.expect(f.read() == "root's data\n", "the symlink's target is untouched")
    if c.expect(os.path.isfile(stats) and not os.path.islink(stats), "the statistics were written"):
        with open(stats) as f:
            c.expect("kept" in json.load(f)["traces"][0], "they are the kept counts")
        c.expect(mode(stats) == 0o666 & ~UMASK, "a plain create's mode (got %04o)" % mode(stats))
    left = sorted(os.path.basename(p) for p in glob.glob(stats + ".*"))
    c.expect(left == ["stats.json.tmp"], "no temporary file is left beside it", str(left))


def planted_report_symlinks(args, shared, c):
    print("== symlinks planted at `run --report FILE`")
    victim = root_only_file(shared)
    report = os.path.join(shared, "report.txt")
    as_nobody("ln", "-s", victim, report)
    r = wgtest.run([args.waitgraph, "run", "--report", report, "--", args.python, PROGRAM],
                   limit=LIMIT, env=clean_env(shared), cwd=shared)
    c.expect(r.returncode == 0, "`run --report` over a planted symlink runs", r.describe())
    with open(victim) as f:
        c.expect(f.read() == "root's data\n", "the symlink's target is untouched")
    st = os.lstat(report)
    c.expect(stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid(),
             "the report replaced the symlink with a file of ours")
    with open(report) as f:
        c.expect("waitgraph" in f.read(), "it holds the report")
    left = glob.glob(report + ".*")
    c.expect(left == [], "no temporary file is left beside it", str(left))

    device = os.path.join(shared, "device.txt")
    as_nobody("ln", "-s", "/dev/null", device)
    r = wgtest.run([args.waitgraph, "run", "--report", device, "--", args.python, PROGRAM],
                   limit=LIMIT, env=clean_env(shared), cwd=shared)
    lines = r.stderr.decode().strip().splitlines()
    c.expect(r.returncode == 4 and lines and "cannot write %s" % device in lines[-1] and
             "not followed" in lines[-1],
             "a symlink to a device made by someone else in a shared directory is refused (exit 4)",
             r.describe())

    r = wgtest.run([args.waitgraph, "run", "--report", "/dev/stdout", "--", args.python, PROGRAM],
                   limit=LIMIT, env=clean_env(shared), cwd=shared)
    c.expect(r.returncode == 0 and b"waitgraph" in r.stdout, "`--report /dev/stdout` prints the report",
             r.describe())


def foreign_user_dir(args, shared, c):
    print("== the per-user directory pre-created by another user")
    user_dir = os.path.join(shared, "waitgraph-%d" % os.geteuid())
    as_nobody("mkdir", "-m", "777", user_dir)
    check_refused_user_dir(args, shared, user_dir, c)


def symlinked_user_dir(args, shared, c):
    print("== the per-user directory is a symlink planted by another user")
    target = os.path.join(shared, "elsewhere")
    as_nobody("mkdir", "-m", "777", target)
    user_dir = os.path.join(shared, "waitgraph-%d" % os.geteuid())
    as_nobody("ln", "-s", target, user_dir)
    check_refused_user_dir(args, shared, user_dir, c)
    c.expect(os.listdir(target) == [], "nothing was written through the symlink", str(os.listdir(target)))


def check_refused_user_dir(args, shared, user_dir, c):
    marker = os.path.join(shared, "program-ran")
    r = wgtest.run([args.waitgraph, "run", "--", "/bin/sh", "-c", "touch " + marker], limit=LIMIT,
                   env=clean_env(shared))
    c.expect(r.returncode == 4 and (b"not to you" in r.stderr or b"not a directory" in r.stderr),
             "`run` refuses the directory with exit 4 and says why", r.describe())
    c.expect(not os.path.exists(marker), "`run` did not start the program")
    # The shim (trace elsewhere) writes no pointer into it.
    trace = os.path.join(shared, "mine-%p.wgtrace")
    run_with_shim(args, shared, trace, c)
    inside = [] if os.path.islink(user_dir) else os.listdir(user_dir)
    c.expect(inside == [], "the shim wrote nothing into the other user's directory", str(inside))
    c.expect(glob.glob(os.path.join(shared, "mine-*.wgtrace")), "the program was still recorded")


def modes_and_argv(args, shared, c):
    print("== modes of what `run` creates; argv only with an opt-in")
    env = clean_env(shared)
    user_dir = os.path.join(shared, "waitgraph-%d" % os.geteuid())
    for record, flag in ((False, []), (True, ["--record-argv"])):
        report = os.path.join(shared, "report-%d.json" % record)
        r = wgtest.run([args.waitgraph, "run", *flag, "--format", "json", "--report", report, "--",
                        args.python, PROGRAM, SECRET], limit=LIMIT, env=env, cwd=shared)
        c.expect(r.returncode == 0 and b"total" in r.stdout, "`run %s` runs the program" % " ".join(flag),
                 r.describe())
        with open(report) as f:
            traces = [t["path"] for t in json.load(f)["traces"]]
        if not c.expect(len(traces) == 1, "one trace reported", str(traces)):
            continue
        trace = traces[0]
        run_dir = os.path.dirname(trace)
        c.expect(os.path.dirname(run_dir) == user_dir, "the trace is in a run directory of %s" % user_dir,
                 trace)
        c.expect(mode(user_dir) == 0o700 and mode(run_dir) == 0o700 and mode(trace) == 0o600,
                 "modes: per-user dir %04o, run dir %04o, trace %04o (want 0700, 0700, 0600)" % (
                     mode(user_dir), mode(run_dir), mode(trace)))
        with open(trace, "rb") as f:
            data = wgtest.plain_payloads(f.read())  # chunk bodies are compressed
        has_secret = SECRET.encode() in data
        c.expect(has_secret == record, "the argument %s in the trace%s" % (
            "is" if record else "is not", " (--record-argv)" if record else ""))
        c.expect(PROGRAM.encode() in data, "argv[0] (the program) is in the trace")
    live = os.path.join(user_dir, "live")
    if os.path.isdir(live):
        c.expect(mode(live) == 0o700, "the live pointer directory is 0700 (got %04o)" % mode(live))


if __name__ == "__main__":
    wgtest.main_guard(main)
