"""Numeric values the shim's Python hooks use: the trace format's, generated
at build time from trace/waitgraph_trace.proto (_trace_kinds.py, written by
trace/gen_py_kinds.py), and the native Hook flags."""

from ._trace_kinds import *  # noqa: F401,F403

# _native.Hook flags (instrument/native/hook.h)
HOOK_QUIET = 1
HOOK_FALSE_IS_TIMEOUT = 2
HOOK_CONTEXT = 4
