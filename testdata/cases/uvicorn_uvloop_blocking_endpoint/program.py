"""uvicorn_blocking_endpoint on uvicorn's uvloop loop (--loop uvloop, its
default when uvloop is installed): uvloop runs callbacks in C, out of the
shim's sight, so the stall is found by sampling the loop thread, and the
report says what uvloop still hides (a note naming uvloop and the checks it
disables) instead of a silence that looks like health.

The app and its client are uvicorn_blocking_endpoint's (its program.py:
/slow calls report(), which calls time.sleep, while a client asks /ping);
only the loop differs."""
import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import runpy

import uvicorn_harness

if __name__ == "__main__":
    blocking = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                           "uvicorn_blocking_endpoint", "program.py"),
                              run_name="uvicorn_blocking_endpoint")
    uvicorn_harness.serve(blocking["app"], blocking["client"], loop="uvloop")
