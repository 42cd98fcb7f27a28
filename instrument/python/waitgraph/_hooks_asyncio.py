"""asyncio: event loop life cycle and hand-offs into a loop from other
threads (run_in_executor is covered by ThreadPoolExecutor.submit)."""

import asyncio
from asyncio import base_events, tasks
from functools import partial

from . import _native
from . import _kinds as K

_emit = _native.emit
_lock_work = _native.lock_work


def _self_pre(self, *args, **kwargs):
    return self


def _loop_init_post(self, result, exc):
    if exc is None:
        _emit(K.LOOP_CREATED, self, 0, type(self).__name__, 0, True)


def _run_forever_pre(self):
    if self._closed or self._thread_id is not None:
        return None  # raises RuntimeError
    _emit(K.LOOP_RUN_BEGIN, self, 0, None, 0, True)
    _lock_work(K.ENTITY_LOOP, self)  # locks taken meanwhile: by this loop's work
    return self


def _run_forever_post(self, result, exc):
    _lock_work(0, self)
    _emit(K.LOOP_RUN_END, self, 0, None, 0, False)


def _stop_pre(self):
    _emit(K.LOOP_STOPPED, self, 0, None, 0, True)
    return None


def _close_pre(self):
    if not self._closed and self._thread_id is None:
        _emit(K.LOOP_CLOSED, self, 0, None, 0, True)
    return None


def _inner_code(function, name):
    for const in function.__code__.co_consts:
        if getattr(const, "co_name", None) == name:
            return const
    return None


# asyncio.futures._chain_future's _set_state: how run_in_executor (and
# wrap_future) hands an executor's result back to the loop.
_CHAIN_SET_STATE = _inner_code(asyncio.futures._chain_future, "_set_state")


# call_soon_threadsafe (per executor hop) is C: _native.call_soon_threadsafe_pre
# (LOOP_HANDOFF, or LOOP_CALL into a closed loop; nothing for a late result
# _set_state drops because its future was cancelled: nothing waits for it).


def _rcts_pre(coro, loop):
    return [loop]


def _rcts_post(token, result, exc):
    if exc is None:
        loop = token[0]
        _emit(K.FUTURE_PRODUCER, result, loop, "run_coroutine_threadsafe", K.ENTITY_LOOP, False)
        _emit(K.LOOP_HANDOFF, loop, result, "run_coroutine_threadsafe", 0, True)


def install(p):
    L = base_events.BaseEventLoop
    p.hook(L, "__init__", _self_pre, _loop_init_post)
    p.hook(L, "run_forever", _run_forever_pre, _run_forever_post)
    p.hook(L, "stop", _stop_pre)
    p.hook(L, "close", _close_pre)
    p.hook(L, "call_soon_threadsafe", partial(_native.call_soon_threadsafe_pre, _CHAIN_SET_STATE))
    original = tasks.run_coroutine_threadsafe
    # quiet: its internal call_soon_threadsafe is this same hand-off.
    h = p.hook(tasks, "run_coroutine_threadsafe", _rcts_pre, _rcts_post, K.HOOK_QUIET)
    if getattr(asyncio, "run_coroutine_threadsafe", None) is original:
        p.replace(asyncio, "run_coroutine_threadsafe", h, original)
