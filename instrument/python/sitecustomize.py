"""waitgraph's sitecustomize: starts the shim when WAITGRAPH_TRACE is set,
then runs the sitecustomize this one shadows (the next one on sys.path), so
a user's or the distribution's sitecustomize still runs.

The shim's start allocates thousands of objects the garbage collector
counts; the collector is off meanwhile and its counts are set back before
the shadowed sitecustomize runs, so the program's collections come when
they would have without the shim (instrument/README.md, Limits)."""
import gc as _waitgraph_gc

# Before anything of the shim's: the counts to set back.
_waitgraph_gc_counts = _waitgraph_gc.get_count()


def _waitgraph_start():
    """Starts the shim; returns what puts the collector back as it was."""
    import os

    gc = _waitgraph_gc
    value = os.environ.get("WAITGRAPH_TRACE")
    if not value:
        return lambda: None
    counts = _waitgraph_gc_counts
    enabled = gc.isenabled()
    gc.disable()

    def restore_collector():
        try:
            from waitgraph import _native
            _native.gc_set_counts(*counts)
        except Exception:
            pass  # no shim: nothing of it to hide
        if enabled:
            gc.enable()

    try:
        from waitgraph import _runtime
    except Exception as e:  # e.g. a build for another Python version
        import sys
        sys.stderr.write("waitgraph: cannot load the shim: %s; running without the shim\n" % (e,))
        return restore_collector
    _runtime.start_from_env(value)
    return restore_collector


def _waitgraph_chain(restore_collector):
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        restore_collector()
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    restore_collector()  # what the shadowed sitecustomize allocates is the program's
    spec.loader.exec_module(module)


# Kept (not deleted): freeing them would count against the collector too.
_waitgraph_restore_collector = _waitgraph_start()
_waitgraph_chain(_waitgraph_restore_collector)
