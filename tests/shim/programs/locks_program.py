"""Exercises the threading lock hooks (waitgraph/_hooks_locks.py, native
lock_hooks.cc) and prints what a program could observe: results,
exceptions and their messages, timeouts, recursion counts, repr shapes,
KeyboardInterrupt delivered while blocked in acquire, fork. Its stdout and
stderr must be the same with and without the shim. Nothing printed may
depend on timing, ids or addresses."""

import os
import re
import signal
import sys
import threading
import time
import weakref


def out(*args):
    print(*args, flush=True)


def describe(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def shape(r):
    return re.sub(r"0x[0-9a-f]+", "ADDR", re.sub(r"owner=\d+", "owner=N", r))


def held_elsewhere(lock):
    """Starts a thread that takes `lock` and holds it until the returned
    event is set; returns (event, thread) once it holds it."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            taken.set()
            release.wait()

    t = threading.Thread(target=hold)
    t.start()
    taken.wait()
    return release, t


def section_lock():
    out("== Lock")
    lock = threading.Lock()
    out("repr free", shape(repr(lock)))
    out("acquire", lock.acquire(), "locked", lock.locked())
    out("repr held", shape(repr(lock)))
    out("acquire(False)", lock.acquire(False), "blocking=False", lock.acquire(blocking=False))
    out("acquire(timeout=0.05)", lock.acquire(timeout=0.05))
    out("acquire(True, 0.01)", lock.acquire(True, 0.01))
    out("acquire(timeout=0)", lock.acquire(timeout=0))
    out("release", lock.release(), "locked", lock.locked())
    for bad in ((False, 1), (True, -2), (True, "x")):
        try:
            lock.acquire(*bad)
        except (ValueError, TypeError) as e:
            out("acquire%r raised" % (bad,), describe(e))
    for args, kwargs in (((True,), {"blocking": True}), ((), {"foo": 1}), ((True, -1, 3), {}),
                         ((), {"timeout": 0.01, "blocking": False}),
                         ((), {"timeout": __import__("decimal").Decimal("0.5")}),
                         ((True, 2), {})):
        try:
            lock.acquire(*args, **kwargs)
            out("acquire(*%r, **%r) returned" % (args, kwargs))
        except (ValueError, TypeError) as e:
            out("acquire(*%r, **%r) raised" % (args, kwargs), describe(e))
    out("after odd arguments locked", lock.locked())
    if lock.locked():
        lock.release()
    try:
        lock.acquire(timeout=1e300)
    except OverflowError as e:
        out("huge timeout raised", describe(e))
    out("after errors locked", lock.locked())
    try:
        lock.release()
    except RuntimeError as e:
        out("release unlocked", describe(e))
    with lock:
        out("with: locked", lock.locked())
    out("after with", lock.locked())
    try:
        with lock:
            raise KeyError("inside")
    except KeyError as e:
        out("with raised", describe(e), "locked", lock.locked())
    out("aliases", lock.acquire_lock(), lock.locked_lock(), lock.release_lock(), lock.locked())
    # Released by another thread than the one that took it (allowed for Lock).
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join()
    out("released by another thread", lock.locked(), lock.acquire(False))
    lock.release()
    # Contended: the waiter blocks, then gets it; and a timed wait times out.
    release, holder = held_elsewhere(lock)
    out("contended acquire(timeout=0.05)", lock.acquire(timeout=0.05))
    threading.Timer(0.05, release.set).start()
    out("contended acquire", lock.acquire())
    lock.release()
    holder.join()
    out("weakref", weakref.ref(lock)() is lock)
    out("type name", type(lock).__name__ in ("lock", "Lock"))


def section_rlock():
    out("== RLock")
    r = threading.RLock()
    out("repr free", shape(repr(r)))
    out("acquire x3", r.acquire(), r.acquire(), r.acquire(blocking=False))
    out("repr held", shape(repr(r)), "owned", r._is_owned())
    r.release()
    r.release()
    r.release()
    out("owned after releases", r._is_owned())
    try:
        r.release()
    except RuntimeError as e:
        out("release unowned", describe(e))
    with r:
        with r:
            out("nested with", shape(repr(r)))
    out("after nested", shape(repr(r)))
    release, holder = held_elsewhere(r)
    out("other holds: acquire(False)", r.acquire(False), "timeout", r.acquire(timeout=0.05))
    try:
        r.release()
    except RuntimeError as e:
        out("release held by other", describe(e))
    release.set()
    holder.join()
    out("free again", r.acquire(timeout=1))
    r.release()
    state = None
    r.acquire()
    r.acquire()
    state = r._release_save()
    out("release_save", state[0], "owned", r._is_owned())
    r._acquire_restore(state)
    out("acquire_restore", shape(repr(r)))
    r.release()
    r.release()


def section_condition():
    out("== Condition")
    for cond in (threading.Condition(), threading.Condition(threading.Lock())):
        with cond:
            out("wait(timeout) times out", cond.wait(0.02), "owned again", cond._is_owned())
        try:
            cond.wait(0.01)
        except RuntimeError as e:
            out("wait un-acquired", describe(e))
        try:
            cond.notify()
        except RuntimeError as e:
            out("notify un-acquired", describe(e))
        ready = []

        def producer():
            time.sleep(0.02)
            with cond:
                ready.append(1)
                cond.notify_all()

        t = threading.Thread(target=producer)
        t.start()
        with cond:
            out("wait_for", cond.wait_for(lambda: ready, timeout=5))
        t.join()
    cond = threading.Condition(threading.RLock())
    with cond:
        with cond:
            out("RLock condition wait nested", cond.wait(0.01), cond._is_owned())


def section_semaphores_barrier():
    out("== Semaphore / Barrier")
    s = threading.Semaphore(1)
    out("acquire", s.acquire(), "again nonblocking", s.acquire(False), "timeout", s.acquire(timeout=0.02))
    s.release()
    with s:
        out("with semaphore")
    b = threading.BoundedSemaphore(1)
    try:
        b.release()
    except ValueError as e:
        out("bounded over-release", describe(e))
    try:
        threading.Semaphore(-1)
    except ValueError as e:
        out("negative semaphore", describe(e))
    gate = threading.Semaphore(0)
    threading.Timer(0.02, gate.release).start()
    out("blocked semaphore acquire", gate.acquire())
    barrier = threading.Barrier(2)
    results = []
    t = threading.Thread(target=lambda: results.append(barrier.wait()))
    t.start()
    results.append(barrier.wait())
    t.join()
    out("barrier indexes", sorted(results))
    lonely = threading.Barrier(2, timeout=0.02)
    try:
        lonely.wait()
    except threading.BrokenBarrierError as e:
        out("barrier timeout", type(e).__name__, "broken", lonely.broken)
    e = threading.Event()
    out("event wait timeout", e.wait(0.01))
    e.set()
    out("event set", e.wait())


def section_keyboard_interrupt():
    out("== KeyboardInterrupt while blocked in acquire")
    for lock in (threading.Lock(), threading.RLock()):
        release, holder = held_elsewhere(lock)
        old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            lock.acquire()
            out("acquired?!")
        except KeyboardInterrupt:
            out(type(lock).__name__ in ("lock", "Lock", "RLock"), "KeyboardInterrupt delivered")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        out("not taken after interrupt", lock.acquire(False))
        release.set()
        holder.join()
        out("free after holder left", lock.acquire(False))
        lock.release()


def section_fork():
    out("== fork")
    lock = threading.Lock()
    r = threading.RLock()
    lock.acquire()
    r.acquire()
    pid = os.fork()
    if pid == 0:
        # The child's copy is still held by this (the forking) thread.
        code = 0 if (lock.locked() and not lock.acquire(False) and r._is_owned()) else 1
        lock._at_fork_reinit()
        r._at_fork_reinit()
        code |= 0 if (lock.acquire(False) and r.acquire(False)) else 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    out("child exit", os.waitstatus_to_exitcode(status))
    lock.release()
    r.release()


def main():
    section_lock()
    section_rlock()
    section_condition()
    section_semaphores_barrier()
    section_keyboard_interrupt()
    section_fork()
    out("threads left", threading.active_count())


main()
