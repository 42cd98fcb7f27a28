"""threading: thread start/exit, Thread.join, Event.wait, Condition.wait."""

import threading

from . import _native
from . import _kinds as K
from ._hooks import tls

_emit = _native.emit
_tid = _native.tid
_capture_stack = _native.capture_stack
_get_ident = threading.get_ident

# id(thread) -> (starter's native tid, stack id of the start() call); an
# entry lives from Thread.start() until the new thread picks it up.
_pending_starts = {}


def announce_running_threads():
    """THREAD_STARTED for the threads that exist when the shim starts."""
    current = threading.current_thread()
    for t in threading.enumerate():
        # The current thread by its id now: in a forked child, Python 3.11
        # keeps the parent's native_id on it.
        nid = _tid() if t is current else getattr(t, "native_id", None)
        if nid:
            _emit(K.THREAD_STARTED, nid, 0, t.name, 0, False)


def _start_pre(self):
    _pending_starts[id(self)] = (_tid(), _capture_stack())
    return self


def _start_post(self, result, exc):
    if exc is not None:
        _pending_starts.pop(id(self), None)


def _bootstrap_pre(self):
    starter, stack = _pending_starts.pop(id(self), (0, 0))
    _emit(K.THREAD_STARTED, _tid(), starter, self._name, 0, stack)
    return self


def _bootstrap_post(self, result, exc):
    _emit(K.THREAD_EXITED, _tid(), 0, None, 0, False)


def _join_pre(self, timeout=None):
    if (self._is_stopped or not self._started._flag or self._ident == _get_ident()
            or (timeout is not None and timeout <= 0)):
        return None  # returns at once, or raises
    if getattr(tls, "in_shutdown", 0):
        return None  # part of ThreadPoolExecutor.shutdown's own wait
    nid = self._native_id
    if not nid:
        return None
    arg = K.ENTITY_THREAD | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0)
    return (nid, arg, "Thread.join", self)


def _join_post(token, result, exc):
    if exc is not None:
        return K.WAIT_RAISED
    return K.WAIT_TIMED_OUT if not token[3]._is_stopped else K.WAIT_COMPLETED


# Event.wait (unless set) and Condition.wait (unless a poll) are waits; their
# pre-callbacks are C (native/wait_pre.cc): Condition.wait runs per
# Future.result and per queue hand-off.


def install(p):
    T = threading.Thread
    # Thread.start waits on an internal Event: quiet.
    p.hook(T, "start", _start_pre, _start_post, K.HOOK_QUIET)
    p.hook(T, "_bootstrap_inner", _bootstrap_pre, _bootstrap_post)
    p.hook(T, "join", _join_pre, _join_post, K.HOOK_QUIET)
    p.hook(threading.Event, "wait", _native.event_wait_pre, None,
           K.HOOK_QUIET | K.HOOK_FALSE_IS_TIMEOUT)
    p.hook(threading.Condition, "wait", _native.condition_wait_pre, None,
           K.HOOK_QUIET | K.HOOK_FALSE_IS_TIMEOUT)
