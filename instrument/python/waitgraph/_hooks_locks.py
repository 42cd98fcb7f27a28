"""threading locks: Lock and RLock (C factories, native/lock_hooks.cc: who
holds each lock, since where, in which order classes are taken, and every
acquire that blocks), Semaphore/BoundedSemaphore.acquire and Barrier.wait
(recorded blocking waits). Condition's lock is one of these locks, so
Condition.wait's release and re-take are seen on it."""

import os
import threading
import weakref

from . import _native
from . import _kinds as K

_emit = _native.emit
_tid = _native.tid

_SHIM_PREFIX = os.path.dirname(os.path.abspath(__file__)) + os.sep
# A lock made or taken inside these files belongs to their caller's line.
_SKIP_SUFFIXES = [os.sep + "threading.py", os.sep + "queue.py"]


# --- Semaphore holders ------------------------------------------------------
# Known only for semaphores made while recording, and only as long as every
# release comes from a thread that holds a token: a release by any other
# thread makes it a signal, whose holders are unknown from then on (no edge
# is ever claimed for it). Written from its first blocking acquire on.

class _SemaphoreState:
    __slots__ = ("holders", "known", "traced")

    def __init__(self):
        self.holders = {}  # native tid -> tokens held
        self.known = True
        self.traced = False


# id(semaphore) -> (weak reference to it, its state). Not a
# WeakKeyDictionary: its look-up makes a weak reference per call, a GC
# allocation on every acquire and release (ThreadPoolExecutor takes its idle
# semaphore per submit). A semaphore whose holders became unknown is dropped:
# its acquires and releases then cost one failed dict look-up.
_semaphores = {}


def _semaphore_state(sem):
    entry = _semaphores.get(id(sem))
    if entry is None or entry[0]() is not sem:
        return None
    return entry[1]


def _forget_semaphore(key):
    def forget(ref):
        entry = _semaphores.get(key)
        if entry is not None and entry[0] is ref:
            del _semaphores[key]
    return forget


def _semaphore_init_pre(self, value=1):
    return [self]


def _semaphore_init_post(token, result, exc):
    if exc is None:
        sem = token[0]
        key = id(sem)
        _semaphores[key] = (weakref.ref(sem, _forget_semaphore(key)), _SemaphoreState())


def _trace_holders(sem, state):
    state.traced = True
    for tid, tokens in state.holders.items():
        _emit(K.SEMAPHORE_HOLDER, sem, tid, None, tokens, False)
    if not state.holders:
        _emit(K.SEMAPHORE_HOLDER, sem, 0, None, 0, False)


def _semaphore_acquire_pre(self, blocking=True, timeout=None):
    state = _semaphore_state(self) if _semaphores else None
    if state is not None and not state.known:
        state = None
    if not blocking or self._value > 0 or (timeout is not None and timeout <= 0):
        return None if state is None else [self, state]  # returns at once
    if state is not None and not state.traced:
        _trace_holders(self, state)
    name = ("BoundedSemaphore.acquire" if isinstance(self, threading.BoundedSemaphore)
            else "Semaphore.acquire")
    return (self, K.ENTITY_SEMAPHORE | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0), name,
            state)


def _semaphore_acquire_post(token, result, exc):
    state = token[-1]
    if result is True and state is not None and state.known:
        tid = _tid()
        tokens = state.holders.get(tid, 0) + 1
        state.holders[tid] = tokens
        if state.traced:
            _emit(K.SEMAPHORE_HOLDER, token[0], tid, None, tokens, False)
    if isinstance(token, tuple):  # a wait: its outcome
        if exc is not None:
            return K.WAIT_RAISED
        return K.WAIT_TIMED_OUT if result is False else K.WAIT_COMPLETED
    return None


def _semaphore_release_pre(self, n=1):
    state = _semaphore_state(self) if _semaphores else None
    return None if state is None or not state.known else [self, state, n]


def _semaphore_release_post(token, result, exc):
    if exc is not None:
        return
    sem, state, n = token
    tid = _tid()
    held = state.holders.get(tid, 0)
    if not isinstance(n, int) or held < n:
        state.known = False  # released by a thread that did not take it: a signal
        state.holders.clear()
        entry = _semaphores.get(id(sem))
        if entry is not None and entry[1] is state:
            del _semaphores[id(sem)]  # unknown for good: nothing more to keep
        if state.traced:
            _emit(K.SEMAPHORE_HOLDER, sem, 0, None, -1, False)
        return
    if held == n:
        del state.holders[tid]
    else:
        state.holders[tid] = held - n
    if state.traced:
        _emit(K.SEMAPHORE_HOLDER, sem, tid, None, held - n, False)


def _barrier_wait_pre(self, timeout=None):
    if timeout is None:
        timeout = self._timeout
    if self._state != 0 or self._count + 1 >= self._parties:
        return None  # draining/broken (returns or raises at once), or the last to arrive
    return (self, K.ENTITY_BARRIER | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0),
            "Barrier.wait")


def install(p):
    real_rlock = getattr(threading, "_CRLock", None)
    if real_rlock is None:
        return  # no C RLock: the pure-Python one is not ours to wrap
    factories = _native.lock_factories(threading._allocate_lock, real_rlock, _SHIM_PREFIX,
                                       _SKIP_SUFFIXES)
    if factories is None:
        return  # not the CPython lock layout the C fast path was written for
    lock_factory, rlock_factory = factories
    p.replace(threading, "Lock", lock_factory)
    p.replace(threading, "RLock", rlock_factory)
    # Their internal Condition.wait is quiet: the wait is the acquire's.
    p.hook(threading.Semaphore, "__init__", _semaphore_init_pre, _semaphore_init_post,
           K.HOOK_QUIET)
    for name in ("acquire", "__enter__"):
        p.hook(threading.Semaphore, name, _semaphore_acquire_pre, _semaphore_acquire_post,
               K.HOOK_QUIET)
    p.hook(threading.Semaphore, "release", _semaphore_release_pre, _semaphore_release_post,
           K.HOOK_QUIET)
    p.hook(threading.BoundedSemaphore, "release", _semaphore_release_pre,
           _semaphore_release_post, K.HOOK_QUIET)
    p.hook(threading.Barrier, "wait", _barrier_wait_pre, None, K.HOOK_QUIET)
