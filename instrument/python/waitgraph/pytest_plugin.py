"""waitgraph for pytest: record the test session, attribute each finding to
the test that produced it, and fail those tests.

    python -m pytest -p waitgraph.pytest_plugin [--waitgraph-sarif out.sarif] ...
    waitgraph run -- python -m pytest -p waitgraph.pytest_plugin ...

Each test runs inside a waitgraph scope named by its node id. After a test's
call phase the plugin flushes the trace and runs `waitgraph check` over it;
findings that happened inside the test (new ones only) fail it. A test that
deadlocks is reported with its deadlock and node id as soon as the cycle has
held for --waitgraph-hang-timeout seconds, and the session stops with exit
status 3 (a deadlocked thread cannot be unblocked; waiting for a timeout
would only hide the cause).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from xml.sax.saxutils import escape, quoteattr

import pytest

import waitgraph

_LEVELS = {"note": 1, "warning": 2, "error": 3, "never": 4}
_HANG_RULES = ("cross-call-deadlock", "executor-starvation")


def pytest_addoption(parser):
    group = parser.getgroup("waitgraph", "waitgraph: deadlocks and lost context state")
    group.addoption("--waitgraph-trace", metavar="PATH",
                    help="where to write the trace (default: a temporary file; under "
                         "`waitgraph run`, that run's trace)")
    group.addoption("--waitgraph-fail-on", default="warning", choices=sorted(_LEVELS),
                    help="fail a test with findings at or above this level (default warning)")
    group.addoption("--waitgraph-fail-session", action="store_true",
                    help="fail the session instead of the tests that produced findings")
    group.addoption("--waitgraph-sarif", metavar="PATH", help="write every finding as SARIF 2.1.0")
    group.addoption("--waitgraph-junit", metavar="PATH",
                    help="write JUnit XML: one case per test, failed by its findings")
    group.addoption("--waitgraph-hang-timeout", type=float, default=2.0, metavar="SECONDS",
                    help="report a test deadlocked once its cycle has held this long (default 2)")
    group.addoption("--waitgraph-bin", metavar="PATH",
                    help="the waitgraph CLI (default: installed beside this package)")


def pytest_configure(config):
    config.pluginmanager.register(WaitgraphPlugin(config), "waitgraph-session")


def _find_cli(explicit):
    if explicit:
        return explicit
    if os.environ.get("WAITGRAPH_BIN"):
        return os.environ["WAITGRAPH_BIN"]
    # <prefix>/lib/waitgraph/python/waitgraph/__init__.py -> <prefix>/bin/waitgraph
    shim_dir = os.path.dirname(os.path.dirname(os.path.abspath(waitgraph.__file__)))
    beside = os.path.join(shim_dir, os.pardir, os.pardir, os.pardir, "bin", "waitgraph")
    if os.path.exists(beside):
        return os.path.normpath(beside)
    return shutil.which("waitgraph") or "waitgraph"


def _private_dir():
    """The per-user 0700 directory (trace/private_files.h), or a fresh
    private temporary directory if it cannot be used."""
    from waitgraph import _native
    try:
        return _native.private_dir()
    except OSError:
        return tempfile.mkdtemp(prefix="waitgraph-pytest-")


class WaitgraphPlugin:
    def __init__(self, config):
        opt = config.getoption
        self.cli = _find_cli(opt("--waitgraph-bin"))
        self.threshold = _LEVELS[opt("--waitgraph-fail-on")]
        self.fail_session = opt("--waitgraph-fail-session")
        self.sarif = opt("--waitgraph-sarif")
        self.junit = opt("--waitgraph-junit")
        self.hang_timeout = opt("--waitgraph-hang-timeout")
        self.reported = set()        # fingerprints already attributed to a test
        self.by_test = {}            # node id -> [finding]
        self.outcomes = {}           # node id -> (outcome, seconds)
        self.current = None          # (node id, start time) of the running test
        self.capture = config.pluginmanager.getplugin("capturemanager")
        self.owns_trace = not waitgraph.is_running()
        if self.owns_trace:
            path = opt("--waitgraph-trace") or os.path.join(
                _private_dir(), "pytest-%p.wgtrace")
            waitgraph.start(path)
        self.trace = waitgraph.trace_path()
        # Under `waitgraph run`, the CLI watches for hangs; on our own we do.
        if self.owns_trace:
            threading.Thread(target=self._watch_for_hangs, name="waitgraph-pytest-watch",
                             daemon=True).start()

    # ---- per test --------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        scope_id = waitgraph.begin_scope(item.nodeid)
        self.current = (item.nodeid, time.monotonic())
        try:
            yield
        finally:
            self.current = None
            waitgraph.end_scope(scope_id)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when != "call":
            if report.failed:
                self.outcomes[item.nodeid] = ("failed", report.duration)
            return
        found = self._new_findings(item.nodeid)
        self.by_test.setdefault(item.nodeid, []).extend(found)
        failing = [f for f in found if _LEVELS.get(f["severity"], 0) >= self.threshold]
        if failing and not self.fail_session and not report.failed:
            report.outcome = "failed"
            report.longrepr = "waitgraph found:\n" + "\n".join(_describe(f) for f in failing)
        self.outcomes[item.nodeid] = (report.outcome, report.duration)

    def _new_findings(self, nodeid):
        waitgraph.flush()
        result = self._cli("check", self.trace, "--format", "json", "--fail-on", "never")
        if result is None:
            return []
        found = []
        for f in result.get("findings", []):
            key = f.get("fingerprint"), f.get("test")
            if f.get("test") == nodeid and key not in self.reported:
                self.reported.add(key)
                found.append(f)
        return found

    def _cli(self, *args):
        try:
            done = subprocess.run([self.cli, *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            sys.stderr.write(f"waitgraph: cannot run {self.cli}: {e}; no findings for this test\n")
            return None
        if done.returncode not in (0, 1):
            sys.stderr.write(f"waitgraph: {done.stderr.strip()}\n")
            return None
        try:
            return json.loads(done.stdout)
        except ValueError:
            return None

    # ---- hangs -----------------------------------------------------------

    def _watch_for_hangs(self):
        while True:
            time.sleep(0.25)
            current = self.current
            if current is None or time.monotonic() - current[1] < self.hang_timeout:
                continue
            report = self._cli("live", str(os.getpid()), "--format", "json")
            if report is None:
                continue
            hung = [f for f in report.get("findings", [])
                    if f["name"] in _HANG_RULES and f.get("held_seconds", 0) >= self.hang_timeout]
            if hung and self.current is current:
                self._report_hang(current[0], hung)

    def _report_hang(self, nodeid, findings):
        if self.capture is not None:  # the test's output capture would swallow this
            self.capture.suspend_global_capture(in_=True)
        sys.stderr.write(f"\nwaitgraph: test {nodeid} deadlocked; stopping the session\n")
        for f in findings:
            f["test"] = nodeid
            sys.stderr.write(_describe(f) + "\n")
        self.by_test.setdefault(nodeid, []).extend(findings)
        self.outcomes[nodeid] = ("failed", time.monotonic() - self.current[1])
        self._write_outputs()
        sys.stderr.flush()
        os._exit(3)

    # ---- session end -----------------------------------------------------

    def pytest_sessionfinish(self, session, exitstatus):
        waitgraph.flush()
        self._write_outputs()
        if self.fail_session and any(
                _LEVELS.get(f["severity"], 0) >= self.threshold
                for found in self.by_test.values() for f in found):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        found = [(t, f) for t, fs in self.by_test.items() for f in fs]
        terminalreporter.section("waitgraph")
        for test, f in found:
            terminalreporter.write_line(f"{test}: {f['severity']}[{f['code']}] {f['name']}")
        noun = "finding" if len(found) == 1 else "findings"
        terminalreporter.write_line(f"{len(found)} {noun}; trace: {self.trace}")

    def pytest_unconfigure(self, config):
        if self.owns_trace:
            waitgraph.stop()

    def _write_outputs(self):
        if self.sarif:
            self._cli_to_file(self.sarif, "sarif")
        if self.junit:
            with open(self.junit, "w", encoding="utf-8") as out:
                out.write(_junit(self.outcomes, self.by_test, self.threshold))

    def _cli_to_file(self, path, fmt):
        try:
            subprocess.run([self.cli, "check", self.trace, "--format", fmt, "--fail-on", "never",
                            "--output", path], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            sys.stderr.write(f"waitgraph: cannot write {path}: {e}\n")


def _describe(f):
    where = f.get("locations") or [{}]
    loc = where[0]
    text = f"{f['severity']}[{f['code']}] {f['name']}: {f['message']}"
    if loc.get("path"):
        path = loc.get("display_path") or loc["path"]
        text += f"\n  --> {path}:{loc.get('line', 0)} in {loc.get('function', '')}"
    if f.get("fix"):
        text += f"\n  fix: {f['fix']}"
    return text


def _junit(outcomes, by_test, threshold):
    cases, failures = [], 0
    for test, (outcome, seconds) in outcomes.items():
        bad = [f for f in by_test.get(test, []) if _LEVELS.get(f["severity"], 0) >= threshold]
        body = ""
        if bad or outcome == "failed":
            failures += 1
            text = "\n".join(_describe(f) for f in bad) or "failed"
            noun = "finding" if len(bad) == 1 else "findings"
            body = f'<failure message={quoteattr(f"{len(bad)} waitgraph {noun}")}>{escape(text)}</failure>'
        classname, _, name = test.rpartition("::")
        cases.append(f'  <testcase classname={quoteattr(classname)} name={quoteattr(name)} '
                     f'time="{seconds:.3f}">{body}</testcase>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name="waitgraph" tests="{len(outcomes)}" failures="{failures}">\n'
            + "\n".join(cases) + "\n</testsuite>\n")
