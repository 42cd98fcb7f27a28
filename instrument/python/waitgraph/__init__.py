"""waitgraph runtime shim: records thread/executor/future/event-loop waits of
a Python program into a waitgraph trace (see instrument/README.md).

    import waitgraph
    waitgraph.start("/tmp/app-%p.wgtrace")   # OSError if it cannot be written
    ...
    waitgraph.stop()

Or without code changes: put this package's parent directory on PYTHONPATH
and set WAITGRAPH_TRACE=<path> (that is what `waitgraph run -- PROGRAM`
does); the bundled sitecustomize.py starts the shim at interpreter start.
"""

from ._runtime import (begin_scope, end_scope, flush, is_running, kept_counts, scope, start, stop,
                       trace_path)

__all__ = ["start", "stop", "is_running", "trace_path", "flush", "scope", "begin_scope",
           "end_scope", "kept_counts"]
