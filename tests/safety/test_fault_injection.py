#!/usr/bin/env python3
"""Issue 13: fault injection, bounded in time (about a minute in all).

- kill at random points: a busy program is SIGKILLed at random moments; its
  trace must hold only whole, valid frames up to where it was cut, and
  `waitgraph analyze` must read it (exit 0) whenever a first chunk made it;
- full disk: RLIMIT_FSIZE stops the trace at 64 KiB (write fails with
  EFBIG); the program's output and exit status are those of a run without
  the shim, the shim warns once, the trace is readable up to its last whole
  chunk;
- fork storm: 40 children forked while threads and pools are recording,
  exiting by sys.exit and os._exit: no hang, same output;
- thread churn: 1,200 short-lived threads waiting on events, futures and a
  lock: same output, a readable trace.
The random kill points come from a seed printed at the start (pass --seed to
replay one run).

usage: test_fault_injection.py --waitgraph BIN [--python PY] [--seed N]
"""
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import wgtest  # noqa: E402

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
LIMIT = 60.0
KILLS = 6
FSIZE = 64 * 1024


def main():
    seed = int(os.environ.get("WG_FAULT_SEED", time.time_ns() % 1000000))
    if "--seed" in sys.argv:
        i = sys.argv.index("--seed")
        seed = int(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    args = wgtest.tool_args()
    print("seed: %d" % seed)
    rng = random.Random(seed)
    c = wgtest.Checker("fault_injection")
    with wgtest.scratch_dir("wg-faults-") as tmp:
        base = wgtest.env_without_waitgraph()
        base.pop("XDG_RUNTIME_DIR", None)
        base["TMPDIR"] = tmp
        kill_at_random_points(args, tmp, base, rng, c)
        full_disk(args, tmp, base, c)
        same_behaviour(args, tmp, base, "fork storm", ["fork_storm.py", "40"], c)
        same_behaviour(args, tmp, base, "thread churn", ["thread_churn.py", "30", "40"], c)
    return c.finish()


def check_trace(args, trace, what, c, allow_empty=False):
    """Whole frames are valid up to the cut; analyze reads it if a chunk made it."""
    try:
        with open(trace, "rb") as f:
            data = f.read()
    except OSError as e:
        c.expect(allow_empty, "%s: no trace yet (killed before the shim made it)" % what, str(e))
        return
    if len(data) < 8 and allow_empty:
        c.ok("%s: killed before the trace header (%d bytes)" % (what, len(data)))
        return
    try:
        frames, trailing = wgtest.read_frames(data)
    except ValueError as e:
        c.fail("%s: every whole frame of the trace is valid" % what, str(e))
        return
    c.ok("%s: %d whole frames, %d trailing bytes of a cut one" % (what, len(frames), trailing))
    if not frames:
        c.expect(allow_empty, "%s: at least one chunk" % what)
        return
    a = wgtest.run([args.waitgraph, "analyze", trace, "--format", "json"], limit=LIMIT)
    if c.expect(a.returncode == 0, "%s: `waitgraph analyze` reads the trace" % what, a.describe()):
        data = json.loads(a.stdout)
        # A process killed within its first flush (50 ms) may have written only
        # the chunk that names it: readable, with no event yet.
        c.expect(allow_empty or data["traces"][0]["events"] > 0, "%s: events analysed" % what,
                 a.stdout[:1000])


def kill_at_random_points(args, tmp, base, rng, c):
    program = [args.python, os.path.join(PROGRAMS, "chatty.py"), "1000000"]
    for i in range(KILLS):
        delay = rng.uniform(0.02, 1.5)
        trace = os.path.join(tmp, "killed-%d.wgtrace" % i)
        env = wgtest.shim_env(args.waitgraph, trace, base, checker=c)
        proc = subprocess.Popen(program, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        wgtest.kill_group(proc)
        proc.wait()
        check_trace(args, trace, "SIGKILL after %.2f s" % delay, c, allow_empty=True)


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))


def run_limited(argv, env):
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, preexec_fn=limit_file_size, timeout=LIMIT)
    return wgtest.Result(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start, False)


def full_disk(args, tmp, base, c):
    argv = [args.python, os.path.join(PROGRAMS, "chatty.py"), "20000"]
    plain = run_limited(argv, base)
    trace = os.path.join(tmp, "full.wgtrace")
    shim = run_limited(argv, wgtest.shim_env(args.waitgraph, trace, base, checker=c))
    c.expect((shim.stdout, shim.returncode) == (plain.stdout, plain.returncode) and plain.returncode == 0,
             "full disk: same output and exit status as without the shim",
             "without:\n%s\nwith:\n%s" % (plain.describe(), shim.describe()))
    warnings = shim.stderr.decode("utf-8", "replace").count("waitgraph:")
    c.expect(warnings == 1, "full disk: one warning from the shim (%d)" % warnings, shim.describe())
    c.expect(os.path.getsize(trace) <= FSIZE, "full disk: the trace stopped at the limit",
             "%d bytes" % os.path.getsize(trace))
    check_trace(args, trace, "full disk", c)


def same_behaviour(args, tmp, base, what, program, c):
    argv = [args.python, os.path.join(PROGRAMS, program[0])] + program[1:]
    plain = wgtest.run(argv, limit=LIMIT, env=base)
    trace = os.path.join(tmp, what.replace(" ", "-") + ".wgtrace")
    shim = wgtest.run(argv, limit=LIMIT, env=wgtest.shim_env(args.waitgraph, trace, base, checker=c))
    c.expect(not shim.timed_out and plain.returncode == 0 and
             (shim.stdout, shim.stderr, shim.returncode) == (plain.stdout, plain.stderr, plain.returncode),
             "%s: same output and status as without the shim, no hang" % what,
             "without:\n%s\nwith:\n%s" % (plain.describe(), shim.describe()))
    check_trace(args, trace, what, c)


if __name__ == "__main__":
    wgtest.main_guard(main)
