"""threading locks: Lock and RLock (C factories, native/lock_hooks.cc: who
holds each lock, since where, in which order classes are taken, and every
acquire that blocks), Semaphore/BoundedSemaphore.acquire and Barrier.wait
(recorded blocking waits). Condition's lock is one of these locks, so
Condition.wait's release and re-take are seen on it."""

import os
import threading

from . import _native
from . import _kinds as K

_SHIM_PREFIX = os.path.dirname(os.path.abspath(__file__)) + os.sep
# A lock made or taken inside these files belongs to their caller's line.
_SKIP_SUFFIXES = [os.sep + "threading.py", os.sep + "queue.py"]


def _semaphore_acquire_pre(self, blocking=True, timeout=None):
    if not blocking or self._value > 0 or (timeout is not None and timeout <= 0):
        return None  # returns at once
    name = ("BoundedSemaphore.acquire" if isinstance(self, threading.BoundedSemaphore)
            else "Semaphore.acquire")
    return (self, K.ENTITY_SEMAPHORE | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0), name)


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
    for name in ("acquire", "__enter__"):
        p.hook(threading.Semaphore, name, _semaphore_acquire_pre, None,
               K.HOOK_QUIET | K.HOOK_FALSE_IS_TIMEOUT)
    p.hook(threading.Barrier, "wait", _barrier_wait_pre, None, K.HOOK_QUIET)
