"""The asgiref 3.6.0 cancelled-request deadlock (asgiref_cancelled_request_deadlock)
on uvloop's event loop (uvloop.install(), as uvicorn does by default when
uvloop is installed). uvloop's callbacks and tasks are C and out of the
shim's sight, but the deadlock goes through threads, an executor, a future
handed to the loop and the thread running the loop, all of which are
still recorded: it must be found, and the report must say what uvloop hid.

That program itself runs here, after uvloop.install(): the bug's code is
in asgiref_cancelled_request_deadlock/program.py."""
import os
import runpy

import uvloop

if __name__ == "__main__":
    uvloop.install()
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "asgiref_cancelled_request_deadlock", "program.py"),
                   run_name="__main__")
