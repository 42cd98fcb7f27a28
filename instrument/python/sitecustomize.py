"""waitgraph's sitecustomize: starts the shim when WAITGRAPH_TRACE is set,
then runs the sitecustomize this one shadows (the next one on sys.path), so
a user's or the distribution's sitecustomize still runs."""


def _waitgraph_start():
    import os

    value = os.environ.get("WAITGRAPH_TRACE")
    if not value:
        return
    try:
        from waitgraph import _runtime
    except Exception as e:  # e.g. a build for another Python version
        import sys
        sys.stderr.write("waitgraph: cannot load the shim: %s; running without the shim\n" % (e,))
        return
    _runtime.start_from_env(value)


def _waitgraph_chain():
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_waitgraph_start()
_waitgraph_chain()
del _waitgraph_start, _waitgraph_chain
