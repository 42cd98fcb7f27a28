"""concurrent.futures: ThreadPoolExecutor life cycle and work items, Future
waits and completion, wait() and as_completed()."""

import functools
from concurrent import futures as _cf
from concurrent.futures import _base
from concurrent.futures import thread as _cf_thread

from . import _native
from . import _kinds as K
from ._hooks import tls

_emit = _native.emit

_PENDING = _base.PENDING
_DONE_STATES = frozenset((_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED))
_NOTIFIED_STATES = frozenset((_base.CANCELLED_AND_NOTIFIED, _base.FINISHED))
_COLLECTIONS = (set, frozenset, list, tuple)


# --- ThreadPoolExecutor ---------------------------------------------------

def _init_pre(self, *args, **kwargs):
    return self


def _init_post(self, result, exc):
    if exc is None:
        _emit(K.EXECUTOR_CREATED, self, 0, self._thread_name_prefix or None,
              self._max_workers, True)


# ThreadPoolExecutor.submit is a CONTEXT hook: while it runs, the executor
# and the stack of the submit() call are this thread's hook context. The
# work item is created inside submit(), before it is queued, and its
# __init__ hook (C: _native.workitem_init_pre) emits EXECUTOR_SUBMIT from
# that context, so EXECUTOR_SUBMIT always precedes the worker's WORK_BEGIN.
# The executor's id rides on the (internal, never user-visible) _WorkItem.
#
# WORK_BEGIN/END (C: _native.workitem_run_pre/post) are emitted around
# _WorkItem.run rather than by wrapping the submitted callable: a wrapper
# would add a frame to the tracebacks of the exceptions the future carries.
# Nothing is emitted for a work item whose future was cancelled.


def _shutdown_pre(self, wait=True, *, cancel_futures=False):
    flags = (K.SHUTDOWN_WAIT if wait else 0) | (K.SHUTDOWN_CANCEL_FUTURES if cancel_futures else 0)
    _emit(K.EXECUTOR_SHUTDOWN, self, 0, None, flags, True)
    tls.in_shutdown = getattr(tls, "in_shutdown", 0) + 1
    if wait:
        return (self, K.ENTITY_EXECUTOR, "ThreadPoolExecutor.shutdown")
    return [self]  # not a wait, but post must run


def _shutdown_post(token, result, exc):
    tls.in_shutdown -= 1
    return None


# --- Future ---------------------------------------------------------------

# Future.result/exception (C: _native.future_result_pre/...): a wait on the
# future unless it cannot block (already done, or timeout <= 0).
# Future.set_result/set_exception (C: _native.future_set_done_pre): FUTURE_DONE
# just before the transition, so that it precedes the woken waiters' WAIT_END
# and whatever the done-callbacks do; Future.cancel (C:
# _native.future_cancel_pre): only when it transitions (from PENDING).


# --- wait / as_completed ----------------------------------------------------

def _wait_pre(fs, timeout=None, return_when=_base.ALL_COMPLETED):
    # Only collections: iterating an iterator here would consume it.
    if type(fs) not in _COLLECTIONS or (timeout is not None and timeout <= 0):
        return None
    pending = []
    any_done = False
    for f in fs:
        if f._state in _NOTIFIED_STATES:
            any_done = True
            if return_when == _base.FIRST_COMPLETED:
                return None
            if return_when == _base.FIRST_EXCEPTION and (
                    f._state != _base.FINISHED or f._exception is not None):
                return None
        else:
            pending.append(f)
    if not pending:
        return None
    arg = K.ENTITY_FUTURE | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0)
    if return_when != _base.ALL_COMPLETED:
        arg |= K.WAIT_ANY_OF
    return (pending, arg, "concurrent.futures.wait", return_when)


def _wait_post(token, result, exc):
    if exc is not None:
        return K.WAIT_RAISED
    done, not_done = result
    if not not_done:
        return K.WAIT_COMPLETED
    return_when = token[3]
    if return_when == _base.ALL_COMPLETED:
        return K.WAIT_TIMED_OUT
    if return_when == _base.FIRST_COMPLETED:
        return K.WAIT_COMPLETED if done else K.WAIT_TIMED_OUT
    for f in done:  # FIRST_EXCEPTION
        if f._state != _base.FINISHED or f._exception is not None:
            return K.WAIT_COMPLETED
    return K.WAIT_TIMED_OUT


def _make_as_completed(original):
    wait_begin = _native.wait_begin
    wait_end = _native.wait_end
    call_quiet = _native.call_quiet

    @functools.wraps(original)
    def as_completed(fs, timeout=None):
        fs = list(fs) if type(fs) not in _COLLECTIONS else fs
        remaining = set(fs)
        arg = K.ENTITY_FUTURE | K.WAIT_ANY_OF | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0)
        gen = original(fs, timeout)
        try:
            while True:
                wid = 0
                if remaining and _native.is_recording():
                    try:
                        for f in remaining:
                            if f._state in _DONE_STATES:
                                break  # next() yields without blocking
                        else:
                            wid = wait_begin(list(remaining), arg, "as_completed")
                    except Exception:
                        pass  # not futures: the original raises its own error
                try:
                    f = call_quiet(next, gen)
                except StopIteration:
                    wait_end(wid, K.WAIT_COMPLETED)
                    return
                except TimeoutError:
                    wait_end(wid, K.WAIT_TIMED_OUT)
                    raise
                except BaseException:
                    wait_end(wid, K.WAIT_RAISED)
                    raise
                wait_end(wid, K.WAIT_COMPLETED)
                remaining.discard(f)
                yield f
        finally:
            gen.close()

    return as_completed


def install(p):
    TPE = _cf_thread.ThreadPoolExecutor
    p.hook(TPE, "__init__", _init_pre, _init_post)
    p.hook(TPE, "submit", None, None, K.HOOK_CONTEXT)
    p.hook(TPE, "shutdown", _shutdown_pre, _shutdown_post)
    p.hook(_cf_thread._WorkItem, "__init__", _native.workitem_init_pre)
    p.hook(_cf_thread._WorkItem, "run", _native.workitem_run_pre, _native.workitem_run_post)

    F = _base.Future
    p.hook(F, "result", _native.future_result_pre, None, K.HOOK_QUIET, TimeoutError)
    p.hook(F, "exception", _native.future_exception_pre, None, K.HOOK_QUIET, TimeoutError)
    p.hook(F, "set_result", _native.future_set_done_pre)
    p.hook(F, "set_exception", _native.future_set_done_pre)
    p.hook(F, "cancel", _native.future_cancel_pre)

    wait_hook = p.hook(_base, "wait", _wait_pre, _wait_post, K.HOOK_QUIET)
    if getattr(_cf, "wait", None) is wait_hook.__wrapped__:
        p.replace(_cf, "wait", wait_hook)
    original_ac = _base.as_completed
    ac = _make_as_completed(original_ac)
    p.replace(_base, "as_completed", ac, original_ac)
    if getattr(_cf, "as_completed", None) is original_ac:
        p.replace(_cf, "as_completed", ac, original_ac)
