"""The pytest plugin on testdata/pytest_suite: exactly the two bad tests of
broken/ fail, with the right findings; fixed/ passes; a test that deadlocks
is reported with its test id and its deadlock, not as a timeout, both by the
plugin alone and under `waitgraph run`.

Usage: test_pytest_plugin.py --waitgraph BIN --python PY
"""
import argparse
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

import wgtest

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "pytest_suite"))
DEADLOCKED = "hangs/test_hang.py::test_report_jobs_wait_on_their_own_pool"


def pytest_argv(args, suite, *extra):
    return [args.python, "-m", "pytest", "-p", "waitgraph.pytest_plugin", "-p", "no:cacheprovider",
            "-q", suite, *extra]


def outcomes(junit_path):
    """{test name: 'failed'|'passed'} from pytest's own --junitxml."""
    result = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        result[case.get("name")] = "failed" if failed else "passed"
    return result


def check_broken(args, env, tmp, checker):
    junit, ours = os.path.join(tmp, "pytest.xml"), os.path.join(tmp, "waitgraph.xml")
    r = wgtest.run(pytest_argv(args, "broken", "--junitxml", junit, "--waitgraph-junit", ours),
                   limit=120, env=env, cwd=SUITE)
    out = r.stdout.decode("utf-8", "replace")
    checker.expect(r.returncode == 1, "broken/: pytest exits 1", r.describe())
    got = outcomes(junit) if os.path.exists(junit) else {}
    checker.expect(got == {"test_middleware_calls_back_into_the_loop": "failed",
                           "test_request_id_reaches_the_view": "failed",
                           "test_plain_view": "passed"},
                   "broken/: exactly the two bad tests fail", "%s\n%s" % (got, r.describe()))
    checker.expect("broken/test_requests.py::test_middleware_calls_back_into_the_loop: "
                   "warning[WG002] potential-cross-call-deadlock" in out,
                   "the latent deadlock is attributed to its test", out)
    checker.expect("broken/test_requests.py::test_request_id_reaches_the_view: " in out
                   and "lost-context-write" in out,
                   "the lost ContextVar write is attributed to its test", out)
    if os.path.exists(ours):
        failed = [c.get("name") for c in ET.parse(ours).getroot().iter("testcase")
                  if c.find("failure") is not None]
        checker.expect(sorted(failed) == ["test_middleware_calls_back_into_the_loop",
                                          "test_request_id_reaches_the_view"],
                       "--waitgraph-junit fails the same two tests", str(failed))
    else:
        checker.fail("--waitgraph-junit wrote nothing")


def check_fixed(args, env, checker):
    r = wgtest.run(pytest_argv(args, "fixed"), limit=120, env=env, cwd=SUITE)
    out = r.stdout.decode("utf-8", "replace")
    checker.expect(r.returncode == 0 and "3 passed" in out and "0 findings" in out,
                   "fixed/: every test passes, no finding", r.describe())


def check_hang(args, env, checker):
    r = wgtest.run(pytest_argv(args, "hangs"), limit=30, env=env, cwd=SUITE)
    err = r.stderr.decode("utf-8", "replace")
    checker.expect(r.returncode == 3 and not r.timed_out, "hangs/: the session stops with exit 3",
                   r.describe())
    checker.expect("test %s deadlocked" % DEADLOCKED in err and "executor-starvation" in err,
                   "the plugin names the deadlocked test and its deadlock", err)

    r = wgtest.run([args.waitgraph, "run", "--", *pytest_argv(args, "hangs")], limit=30, cwd=SUITE,
                   env=dict(env, PYTHONPATH=os.environ.get("PYTHONPATH", "")))
    err = r.stderr.decode("utf-8", "replace")
    checker.expect(r.returncode == 3 and "in test: " + DEADLOCKED in err,
                   "under `waitgraph run` the report names the test", r.describe())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--waitgraph", required=True)
    parser.add_argument("--python", default=wgtest.DEFAULT_PYTHON)
    args = parser.parse_args()
    args.waitgraph = os.path.abspath(args.waitgraph)  # the suites run from their own directory
    checker = wgtest.Checker("pytest_plugin")
    env = dict(os.environ, PYTHONPATH=wgtest.shim_dir(args.waitgraph),
               WAITGRAPH_BIN=os.path.abspath(args.waitgraph))
    env.pop("WAITGRAPH_TRACE", None)
    tmp = tempfile.mkdtemp(prefix="wg-pytest-")
    try:
        check_broken(args, env, tmp, checker)
        check_fixed(args, env, checker)
        check_hang(args, env, checker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main())
