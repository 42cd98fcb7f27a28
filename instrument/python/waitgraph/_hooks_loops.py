"""asyncio loop affinity: which loop each future, task, primitive (Lock,
Event, Condition, Semaphore, Queue) and transport is bound to, and the uses
that cross loops or threads. The callbacks are C (_native.loop_*,
instrument/native/loop_checks.h): a use from the object's own loop, the
common case, reads an attribute or two and records nothing.

asyncio.Future and asyncio.Task are C types whose methods cannot be patched;
their binding is seen where the loop makes them (create_future,
create_task), and their use from another thread where it ends up: a
call_soon on their loop from a thread that does not run it."""

import os
from functools import partial
from asyncio import base_events, locks, mixins, queues, selector_events

from . import _native
from . import _kinds as K

# loop_call_pre flags (instrument/native/loop_checks.cc).
_CHECK_THREAD = 1
_BIND_RESULT = 2


def install(p):
    # WAITGRAPH_LOOP_AFFINITY=0: leave asyncio's loop-affinity APIs alone
    # (to measure their share of the overhead, or if they ever get in the way).
    if os.environ.get("WAITGRAPH_LOOP_AFFINITY", "1") == "0":
        return
    N = _native
    L = base_events.BaseEventLoop
    # Scheduling on a loop from a thread that does not run it, or after it
    # closed. call_later goes through call_at, create_task through the Task's
    # own call_soon: those are quiet so that one call is one record.
    p.hook(L, "call_soon", partial(N.loop_call_pre, "call_soon", _CHECK_THREAD))
    p.hook(L, "call_at", partial(N.loop_call_pre, "call_at", _CHECK_THREAD))
    p.hook(L, "call_later", partial(N.loop_call_pre, "call_later", _CHECK_THREAD),
           None, K.HOOK_QUIET)
    p.hook(L, "create_task", partial(N.loop_call_pre, "create_task", _CHECK_THREAD | _BIND_RESULT),
           N.loop_bind_post, K.HOOK_QUIET)
    # Making a future for another loop is legitimate (it is then resolved
    # with call_soon_threadsafe); only a closed loop is suspect here.
    p.hook(L, "create_future", partial(N.loop_call_pre, "create_future", _BIND_RESULT),
           N.loop_bind_post)

    # Primitives: made anywhere, bound to the running loop at first use.
    for cls in (locks.Lock, locks.Event, locks.Condition, locks.Semaphore,
                locks.BoundedSemaphore, queues.Queue):
        if "__init__" in cls.__dict__:
            p.hook(cls, "__init__", N.self_token_pre, N.primitive_created_post, K.HOOK_QUIET)
    p.hook(mixins._LoopBoundMixin, "_get_loop", N.get_loop_pre, N.get_loop_post)
    # Uses that never call _get_loop but wake waiters of the bound loop.
    for cls, name in ((queues.Queue, "put_nowait"), (queues.Queue, "get_nowait"),
                      (locks.Event, "set"), (locks.Lock, "release"),
                      (locks.Condition, "notify"), (locks.Semaphore, "release")):
        p.hook(cls, name, partial(N.use_check_pre, "%s.%s" % (cls.__name__, name)))

    # Transports (asyncio streams, redis.asyncio connections, servers).
    p.hook(selector_events._SelectorTransport, "__init__", N.self_token_pre,
           N.transport_bound_post)
    for name in ("write", "writelines"):
        if name in selector_events._SelectorSocketTransport.__dict__:
            p.hook(selector_events._SelectorSocketTransport, name,
                   partial(N.use_check_pre, "Transport." + name))
