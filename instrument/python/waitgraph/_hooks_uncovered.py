"""Event loops the shim cannot hook: uvloop (uvicorn's default when it is
installed) runs its callbacks, tasks, handles and transports in C, so none
of the asyncio hooks see them. What can still be seen of such a loop is its
life on a thread: `asyncio._set_running_loop`, which uvloop calls whenever
it starts or stops running (it looks the name up on the asyncio package;
the stdlib loops call `asyncio.events._set_running_loop` and are hooked
elsewhere), becomes a Hook that writes LOOP_CREATED (the first time, with
where it was first run) and LOOP_UNCOVERED (the loop class: the analyzer
says in every report what it could not check there), then LOOP_RUN_BEGIN /
LOOP_RUN_END. Futures handed to the loop (run_coroutine_threadsafe,
asgiref's AsyncToSync) then lead to the thread running it, as for any loop.

Loop stalls: while such a loop runs, its thread is watched by the native
loop-thread sampler (native/loop_thread_sampler.h), which tells one
callback from the next by the thread's context switches and samples a
callback that outlasts WAITGRAPH_STALL_MS; `_native.LoopRunEnd` around the
hook stops the watch when the loop stops, recording or not.
Names and ids only."""

import asyncio
import sys
import weakref
from asyncio import base_events, events

from . import _native
from . import _kinds as K
from . import _hooks_stall

_emit = _native.emit
_seen = weakref.WeakSet()  # uncovered loops already described
_sample_stalls = False  # WAITGRAPH_STALL_MS > 0


def _class_name(loop):
    cls = type(loop)
    module = getattr(cls, "__module__", "") or ""
    return "%s.%s" % (module, cls.__qualname__) if module else cls.__qualname__


def _set_running_loop_pre(loop):
    if loop is None:
        current = events._get_running_loop()
        if current is not None and not isinstance(current, base_events.BaseEventLoop):
            _emit(K.LOOP_RUN_END, current, 0, None, 0, False)
        return None
    if isinstance(loop, base_events.BaseEventLoop):
        return None  # its own hooks record it
    if loop not in _seen:
        _seen.add(loop)
        name = _class_name(loop)
        _emit(K.LOOP_CREATED, loop, 0, name, 0, True)
        _emit(K.LOOP_UNCOVERED, loop, 0, name, 0, True)
    _emit(K.LOOP_RUN_BEGIN, loop, 0, None, 0, True)
    if _sample_stalls and type(loop).__module__.startswith("uvloop"):
        # Only uvloop's way of running callbacks (each in a context) is
        # known to the sampler. Frame 1: the program's frame that called the loop's run method
        # (uvloop's run_forever/run_until_complete are C).
        _native.watch_loop_thread(loop, sys._getframe(1))
    return None


def install(p):
    global _sample_stalls
    if hasattr(asyncio, "_set_running_loop"):
        hooked = p.hook(asyncio, "_set_running_loop", _set_running_loop_pre)
        _sample_stalls = _hooks_stall._threshold_ms() > 0
        if not isinstance(asyncio._set_running_loop, _native.LoopRunEnd):
            p.replace(asyncio, "_set_running_loop", _native.LoopRunEnd(hooked), hooked)
