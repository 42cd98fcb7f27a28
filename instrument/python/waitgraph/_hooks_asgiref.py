"""asgiref (Django's sync/async bridge): AsyncToSync hands its coroutine to
the outer event loop (FUTURE_PRODUCER); CurrentThreadExecutor blocks its
thread until a future is done (a wait); the executor work an AsyncToSync
call's task waits for (FUTURE_PRODUCER of kind ENTITY_FUTURE). Patched when
asgiref.sync / asgiref.current_thread_executor get imported, or at once if
they already are."""

import asyncio
import contextvars
import functools
import sys
import threading
import weakref
from asyncio import futures as _aio_futures
from concurrent.futures import Future as _ConcurrentFuture

from . import _native
from . import _kinds as K
from ._hooks import tls

_emit = _native.emit


def _self_pre(self, *args, **kwargs):
    return self


# main_wrap coroutine -> the concurrent Future its AsyncToSync caller waits for.
_call_results = weakref.WeakKeyDictionary()
# SyncToAsync.__call__'s code: wrap_future called from it is always awaited.
_s2a_call_code = None
_AsyncToSync = None


def _main_wrap_pre(self, args, kwargs, call_result, *rest, **kw):
    loop = self.main_event_loop
    if loop is not None and loop.is_running():
        _emit(K.FUTURE_PRODUCER, call_result, loop, "AsyncToSync", K.ENTITY_LOOP, True)
    return [call_result]


def _main_wrap_post(token, coro, exc):
    if exc is None:
        _call_results[coro] = token[0]


# --- An AsyncToSync result that waits for executor work ----------------------
#
# AsyncToSync.__call__ blocks its thread until `call_result` is set by the
# task running main_wrap on the loop. asgiref routes sync_to_async calls of
# that task back to the blocked thread (its CurrentThreadExecutor), but not
# those of tasks it starts and awaits: theirs go to a ThreadPoolExecutor
# (a ThreadSensitiveContext's, the single-thread one, or any other), and
# call_result cannot be set before that work is done. When sync_to_async
# hands its work to an executor (run_in_executor -> wrap_future), we say so
# if the awaiting task is awaited by an AsyncToSync task through plain
# awaits of tasks and gathers, with no timeout on the way (a timeout would
# end the wait by itself): FUTURE_PRODUCER(call_result, work future,
# ENTITY_FUTURE), with this task's stack.

_MAX_CHAIN = 64


def _awaiter_chain(task, target):
    """The tasks from `task` down to `target` through what each awaits, or None."""
    parent = {task: None}
    todo = [task]
    while todo and len(parent) <= _MAX_CHAIN:
        node = todo.pop()
        if node is target:
            chain = []
            while node is not None:
                chain.append(node)
                node = parent[node]
            return chain[::-1]
        if isinstance(node, asyncio.Task):
            nexts = [node._fut_waiter] if node._fut_waiter is not None else []
        else:
            nexts = getattr(node, "_children", ())  # gather's future; others end the walk
        for n in nexts:
            if n not in parent:
                parent[n] = node
                todo.append(n)
    return None


def _timeout_bounds(loop, chain):
    """A pending asyncio.timeout() that would cancel a task of the chain. (A
    wait_for() with a timeout awaits a plain future: the walk stops there.)"""
    tasks = {id(t) for t in chain}
    for handle in getattr(loop, "_scheduled", ()):
        if handle.cancelled():
            continue
        owner = getattr(handle._callback, "__self__", None)
        if id(getattr(owner, "_task", None)) in tasks:
            return True
    return False


def _coroutine_name(task):
    """The innermost coroutine function the task is suspended in."""
    coro = task.get_coro()
    name = getattr(getattr(coro, "cr_code", None), "co_qualname", "?")
    while True:
        coro = getattr(coro, "cr_await", None)
        code = getattr(coro, "cr_code", None)
        if code is None:
            return name
        name = code.co_qualname


def _describe_chain(chain):
    """"AsyncToSync task: send_receipt awaits task deliver_receipt": code names only."""
    tasks = [t for t in chain if isinstance(t, asyncio.Task)]
    steps = [_coroutine_name(tasks[0])]
    for t in tasks[1:]:
        steps.append("task " + getattr(getattr(t.get_coro(), "cr_code", None), "co_qualname", "?"))
    return "AsyncToSync task: " + " awaits ".join(steps)


def _called_from_sync_to_async():
    try:
        frame = sys._getframe(2)  # past this hook and run_in_executor
    except ValueError:
        return False
    for _ in range(3):
        if frame is None:
            return False
        if frame.f_code is _s2a_call_code:
            return True
        frame = frame.f_back
    return False


def _wrap_future_pre(future, *, loop=None):
    launch_map = getattr(_AsyncToSync, "launch_map", None)
    if (not launch_map or loop is None or not isinstance(future, _ConcurrentFuture)
            or not _called_from_sync_to_async()):
        return None
    current = asyncio.current_task(loop)
    if current is None:
        return None
    for task in list(launch_map):
        if not isinstance(task, asyncio.Task):
            continue
        call_result = _call_results.get(task.get_coro())
        if call_result is None or call_result.done() or task.get_loop() is not loop:
            continue
        chain = _awaiter_chain(task, current)
        if chain is None or _timeout_bounds(loop, chain):
            continue
        _emit(K.FUTURE_PRODUCER, call_result, future, _describe_chain(chain), K.ENTITY_FUTURE,
              True)
    return None


# --- CurrentThreadExecutor: an executor whose one worker is its own thread --
#
# AsyncToSync makes one per call; thread-sensitive sync_to_async work of the
# loop it hands to comes back to it. Its work runs only while its thread is
# in its own run_until_future loop, one item at a time: an executor with one
# worker, that thread (EXECUTOR_CREATED.object), busy while an item runs.

def _cte_init_post(self, result, exc):
    if exc is None:
        _emit(K.EXECUTOR_CREATED, self, threading.get_ident(), "CurrentThreadExecutor", 1, True)


def _job_name(fn):
    """The user's function inside a job: through partials and Context.run."""
    for _ in range(8):
        if not isinstance(fn, functools.partial):
            break
        inner = fn.func
        for i, arg in enumerate(fn.args):
            if i + 1 < len(fn.args) and isinstance(getattr(arg, "__self__", None),
                                                   contextvars.Context):
                inner = fn.args[i + 1]
                break
        else:
            if isinstance(getattr(inner, "__self__", None), contextvars.Context) and fn.args:
                inner = fn.args[0]
        fn = inner
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _cte_submit_pre(self, fn, *args, **kwargs):
    return [self, fn]


def _cte_submit_post(token, future, exc):
    if exc is None:
        _emit(K.EXECUTOR_SUBMIT, token[0], future, _job_name(token[1]), 0, True)


def _cte_item_run_pre(item):
    cte = getattr(tls, "current_cte", None)
    future = getattr(item, "future", None)
    if cte is None or getattr(future, "_state", None) != "PENDING":
        return None  # cancelled: run() will not call the function
    _emit(K.WORK_BEGIN, cte, future, None, 0, False)
    return [cte, future]


def _cte_item_run_post(token, result, exc):
    _emit(K.WORK_END, token[0], token[1], None, 0, False)


def _run_until_future_pre(self, future):
    previous = (getattr(tls, "quiet_queue", None), getattr(tls, "current_cte", None))
    # The executor's own queue.get() calls are this wait; work items it runs
    # meanwhile are recorded normally, as its work.
    tls.quiet_queue = self._work_queue
    tls.current_cte = self
    return (future, K.ENTITY_FUTURE, "CurrentThreadExecutor.run_until_future", previous)


def _run_until_future_post(token, result, exc):
    tls.quiet_queue, tls.current_cte = token[3]
    return None


def _patch_sync(module, patcher):
    global _AsyncToSync, _s2a_call_code
    cls = getattr(module, "AsyncToSync", None)
    if cls is not None and "main_wrap" in cls.__dict__:
        patcher.hook(cls, "main_wrap", _main_wrap_pre, _main_wrap_post)
        s2a_call = getattr(getattr(module, "SyncToAsync", None), "__call__", None)
        if hasattr(s2a_call, "__code__") and hasattr(cls, "launch_map"):
            _AsyncToSync = cls
            _s2a_call_code = s2a_call.__code__
            patcher.hook(_aio_futures, "wrap_future", _wrap_future_pre)


def _patch_cte(module, patcher):
    cls = getattr(module, "CurrentThreadExecutor", None)
    if cls is not None and "run_until_future" in cls.__dict__:
        patcher.hook(cls, "run_until_future", _run_until_future_pre, _run_until_future_post)
    item = getattr(module, "_WorkItem", None)
    if (cls is not None and item is not None and "submit" in cls.__dict__
            and "__init__" in cls.__dict__ and "run" in item.__dict__):
        patcher.hook(cls, "__init__", _self_pre, _cte_init_post)
        patcher.hook(cls, "submit", _cte_submit_pre, _cte_submit_post)
        patcher.hook(item, "run", _cte_item_run_pre, _cte_item_run_post)


TARGETS = {
    "asgiref.sync": _patch_sync,
    "asgiref.current_thread_executor": _patch_cte,
}
