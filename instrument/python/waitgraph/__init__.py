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


def _load_native():
    """Imports the C++ part with lazy symbol binding: Python opens
    extensions with RTLD_NOW, which resolves every function the module and
    the libraries it brings (libprotobuf, libstdc++, abseil) could ever call,
    ~5M instructions at start-up; lazily, only those called are resolved,
    on first call. The process's own flags are put back at once."""
    import os
    import sys

    flags = sys.getdlopenflags()
    sys.setdlopenflags((flags & ~os.RTLD_NOW) | os.RTLD_LAZY)
    try:
        from . import _native  # noqa: F401
    finally:
        sys.setdlopenflags(flags)


_load_native()
del _load_native

from ._runtime import (begin_scope, end_scope, flush, is_running, kept_counts, scope,  # noqa: E402
                       start, stop, trace_path)

__all__ = ["start", "stop", "is_running", "trace_path", "flush", "scope", "begin_scope",
           "end_scope", "kept_counts"]
