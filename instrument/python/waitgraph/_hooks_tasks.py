"""asyncio tasks as waiters (native/loop_snapshot.h, native/async_lock_owners.h).

* The `select` of every selector class is replaced by a `_native.SelectHook`:
  it marks "this thread sits in its selector since t". A C++ watchdog takes
  the GIL for a thread that has sat there WAITGRAPH_TASK_SNAPSHOT_MS (default
  500; 0 = off) and calls `snapshot(frame)` below: the loop runs nothing
  then, so what its tasks await is consistent. Nothing runs while a loop is
  busy.
* asyncio.Lock.acquire gets a C pre-hook that notes which task took a lock
  (an asyncio.Lock has no owner attribute); the snapshot names the owner of
  each lock a task waits for, when it is certain.

The snapshot only reads: task._fut_waiter, the coroutines' cr_await chain and
the `self` of known primitive frames, the loop's ready queue, timers and
selector map. Names, code locations and ids only, never values."""

import asyncio
import os
import selectors
import signal
import threading
import types
from asyncio import base_events, futures, locks, queues, tasks

from . import _native

# trace/waitgraph_trace.proto
LOOP_IDLE, TASK_WAITING, TASK_INFO, ASYNC_LOCK_OWNER = 110, 111, 112, 113
ENTITY_TASK, ENTITY_ASYNC_FUTURE, ENTITY_ASYNC_PRIMITIVE, ENTITY_ASYNC_QUEUE = 9, 10, 13, 14
WAIT_ANY_OF, WAIT_HAS_TIMEOUT = 0x100, 0x200
SIGNAL_HANDLER = 115

_MAX_CHAIN = 64


def _idle_ms():
    """WAITGRAPH_TASK_SNAPSHOT_MS: how long a loop sits in its selector before
    its tasks are snapshotted; 0 turns snapshots off."""
    try:
        v = float(os.environ.get("WAITGRAPH_TASK_SNAPSHOT_MS", "500"))
        return v if v >= 0 else 500.0
    except ValueError:
        return 500.0


def _code(fn):
    fn = getattr(fn, "__wrapped__", fn)
    return getattr(fn, "__code__", None)


def _method_code(cls, name):
    fn = cls.__dict__.get(name)
    return _code(fn) if fn is not None else None


# code object of a frame that awaits a primitive -> (API, EntityKind)
_PRIMITIVE_FRAMES = {}
for _cls, _meth, _api, _kind in (
        (locks.Lock, "acquire", "Lock.acquire", ENTITY_ASYNC_PRIMITIVE),
        (locks.Semaphore, "acquire", "Semaphore.acquire", ENTITY_ASYNC_PRIMITIVE),
        (locks.Event, "wait", "Event.wait", ENTITY_ASYNC_PRIMITIVE),
        (locks.Condition, "wait", "Condition.wait", ENTITY_ASYNC_PRIMITIVE),
        (getattr(locks, "Barrier", None), "wait", "Barrier.wait", ENTITY_ASYNC_PRIMITIVE),
        (queues.Queue, "get", "Queue.get", ENTITY_ASYNC_QUEUE),
        (queues.Queue, "put", "Queue.put", ENTITY_ASYNC_QUEUE)):
    if _cls is not None and _method_code(_cls, _meth) is not None:
        _PRIMITIVE_FRAMES[_method_code(_cls, _meth)] = (_api, _kind)

_RUN_ONCE = _method_code(base_events.BaseEventLoop, "_run_once")
_WAIT_FOR = _code(tasks.wait_for)
_WAIT = _code(tasks._wait)
_SLEEP = _code(tasks.sleep)
_FOLLOWED = (types.CoroutineType, types.GeneratorType)


# ---- the loop and what can wake it ------------------------------------------

def _loop_of(frame):
    """The loop whose _run_once called the select `frame` is in, or None."""
    f, n = frame, 0
    while f is not None and n < 8:
        if f.f_code is _RUN_ONCE:
            loop = f.f_locals.get("self")
            return loop if isinstance(loop, base_events.BaseEventLoop) else None
        f, n = f.f_back, n + 1
    return None


def _is_asyncio_runner_sigint(handler):
    handler = getattr(handler, "func", handler)  # functools.partial(runner._on_sigint, ...)
    owner = getattr(handler, "__self__", None)
    runner = getattr(asyncio, "Runner", None)
    return runner is not None and isinstance(owner, runner)


def _counts(handler):
    """A handler the program installed: a signal may still run code (Ctrl-C's
    default and asyncio.run's own SIGINT handler do not count)."""
    return callable(handler) and handler is not signal.default_int_handler \
        and not _is_asyncio_runner_sigint(handler)


def _python_signal_handlers():
    n = 0
    for sig in signal.valid_signals():
        try:
            h = signal.getsignal(sig)
        except (ValueError, OSError):
            continue
        if _counts(h):
            n += 1
    return n


def _signal_pre(signalnum, handler, *rest):
    return (signalnum, handler)


def _signal_post(token, result, exc):
    if exc is None:
        signalnum, handler = token
        _native.emit(SIGNAL_HANDLER, int(signalnum), 0, None, 1 if _counts(handler) else 0, False)


def _announce_signal_handlers():
    for sig in signal.valid_signals():
        try:
            h = signal.getsignal(sig)
        except (ValueError, OSError):
            continue
        if _counts(h):
            _native.emit(SIGNAL_HANDLER, int(sig), 0, None, 1, False)


def _wakeable(loop):
    """Descriptors registered besides the loop's self-pipe, plus signal
    handlers: input that may still come."""
    n = 0
    ssock = getattr(loop, "_ssock", None)
    self_fd = ssock.fileno() if ssock is not None else -1
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        for key in list(selector.get_map().values()):
            if key.fd != self_fd:
                n += 1
    n += len(getattr(loop, "_signal_handlers", None) or ())
    return n + _python_signal_handlers()


def _pending_timers(loop):
    return sum(1 for h in list(loop._scheduled) if not h._cancelled)


def _timeout_bounded(loop):
    """Tasks inside an `async with asyncio.timeout()` whose timer is set."""
    timeout_cls = getattr(getattr(asyncio, "timeouts", None), "Timeout", None)
    out = set()
    if timeout_cls is None:
        return out
    for h in list(loop._scheduled):
        owner = getattr(h._callback, "__self__", None)
        if not h._cancelled and isinstance(owner, timeout_cls):
            task = getattr(owner, "_task", None)
            if task is not None:
                out.add(task)
    return out


# ---- what a task awaits -----------------------------------------------------

def _await_chain(task):
    """The frames of the task's await chain, outermost first."""
    frames = []
    obj = task.get_coro()
    while isinstance(obj, _FOLLOWED) and len(frames) < _MAX_CHAIN:
        f = obj.cr_frame if isinstance(obj, types.CoroutineType) else obj.gi_frame
        if f is None:
            break
        frames.append(f)
        obj = obj.cr_await if isinstance(obj, types.CoroutineType) else obj.gi_yieldfrom
    return frames


def _bounded_wait_for(frame):
    """A wait_for frame with a timeout (wait_for(x, None) just awaits x)."""
    return frame.f_locals.get("timeout") is not None


def _future_target(fut):
    return (fut, ENTITY_TASK if isinstance(fut, asyncio.Task) else ENTITY_ASYNC_FUTURE)


def _what_it_awaits(task, frames, fut):
    """(api, [(target, kind)], flags) for a task suspended on `fut`."""
    for f in reversed(frames):  # innermost first
        code = f.f_code
        known = _PRIMITIVE_FRAMES.get(code)
        if known is not None:
            target = f.f_locals.get("self")
            if target is not None:
                return known[0], [(target, known[1])], 0
        if code is _SLEEP:
            return "asyncio.sleep", [(fut, ENTITY_ASYNC_FUTURE)], WAIT_HAS_TIMEOUT
        if code is _WAIT_FOR:
            inner = f.f_locals.get("fut")  # the awaitable (wrapped in a task if bounded)
            if isinstance(inner, asyncio.Future) and not inner.done():
                return "asyncio.wait_for", _awaited_targets(inner), \
                    WAIT_HAS_TIMEOUT if _bounded_wait_for(f) else 0
        if code is _WAIT:
            loc = f.f_locals
            pending = [x for x in list(loc.get("fs") or ()) if not x.done()]
            flags = 0 if loc.get("return_when") == tasks.ALL_COMPLETED else WAIT_ANY_OF
            if loc.get("timeout") is not None:
                flags |= WAIT_HAS_TIMEOUT
            return "asyncio.wait", [_future_target(x) for x in pending], flags
    if isinstance(fut, asyncio.Task):
        return "await Task", _awaited_targets(fut), 0
    if isinstance(fut, tasks._GatheringFuture):
        return "asyncio.gather", _awaited_targets(fut), 0
    return "await Future", _awaited_targets(fut), 0


def _awaited_targets(fut):
    """[(target, kind)]: a task, a gather's unfinished children, or a future."""
    if isinstance(fut, tasks._GatheringFuture):
        return [_future_target(c) for c in list(getattr(fut, "_children", ())) if not c.done()]
    return [_future_target(fut)]


def _waiter_task(callback):
    owner = getattr(callback, "__self__", None)
    return owner if isinstance(owner, asyncio.Task) else None


def _queued_tasks(lock):
    """The tasks queued on a lock (their wake-up is a callback of its waiter
    futures)."""
    out = []
    for fut in list(getattr(lock, "_waiters", None) or ()):
        for cb, _ctx in list(getattr(fut, "_callbacks", None) or ()):
            t = _waiter_task(cb)
            if t is not None:
                out.append(t)
    return out


def _lock_owner(lock, alive):
    """The id of the task that holds `lock`, or 0 when not certain. `alive`:
    id -> task for the loop's tasks that are not done. The holder is the
    fast-path taker or a pending acquirer that woke up; a candidate must be
    alive and not queued on the lock, and there must be one only."""
    if not isinstance(lock, locks.Lock) or not lock._locked:
        return 0
    taker, known, pending = _native.async_lock_owner(lock)
    if not known:
        return 0
    queued = {_native.oid(t) for t in _queued_tasks(lock)}
    candidates = {p for p in [taker] + pending if p in alive and p not in queued}
    return candidates.pop() if len(candidates) == 1 else 0


# ---- the snapshot -------------------------------------------------------------

_seen = {}       # loop id -> ids of the tasks of its last snapshot (TASK_INFO written)
_counter = [0]


def _task_wait(task, bounded):
    """(api, [(target, kind)], flags, stack) of a suspended task, or None if
    it does not wait (the loop is about to run it)."""
    fut = task._fut_waiter
    if fut is None:
        return None
    frames = _await_chain(task)
    api, targets, flags = _what_it_awaits(task, frames, fut)
    if not targets:
        return None  # everything it waited for is done: it runs next
    if task in bounded or any(f.f_code is _WAIT_FOR and _bounded_wait_for(f) for f in frames):
        flags |= WAIT_HAS_TIMEOUT
    return api, targets, flags, _native.stack_of_frames(list(reversed(frames)))


def _bounded_by_waiters(waits, bounded):
    """Tasks a timeout can end from outside: awaited (through tasks, gather,
    wait_for) by a task whose wait is bounded, which cancels them."""
    out = set(bounded)
    changed = True
    while changed:
        changed = False
        for task, (api, targets, flags, stack) in waits.items():
            if not (flags & WAIT_HAS_TIMEOUT or task in out):
                continue
            for target, kind in targets:
                if kind == ENTITY_TASK and target in waits and target not in out:
                    out.add(target)
                    changed = True
    return out


def _task_events(task, wait, bounded, info_written):
    """TASK_INFO (first time) and TASK_WAITING events of one task."""
    api, targets, flags, stack = wait
    if task in bounded:
        flags |= WAIT_HAS_TIMEOUT
    events = []
    if _native.oid(task) not in info_written:
        events.append((TASK_INFO, task, task._loop, task.get_name(), 0, 0))
    for target, kind in targets:
        events.append((TASK_WAITING, task, target, api, kind | flags, stack))
    return events


def snapshot(frame):
    """Called by the watchdog (GIL held, recording suppressed) with the
    innermost frame of a thread that sat in its selector: None, or (loop,
    events) for native/loop_snapshot.cc to write."""
    try:
        return _snapshot(frame)
    except Exception:
        return None


def _snapshot(frame):
    loop = _loop_of(frame)
    if loop is None or loop.is_closed() or len(loop._ready):
        return None  # not a loop, or it has callbacks to run: not idle
    loop_id = _native.oid(loop)
    bounded = _timeout_bounded(loop)
    all_tasks = [t for t in list(tasks._all_tasks) if futures._get_loop(t) is loop and not t.done()]
    alive = {_native.oid(t): t for t in all_tasks}
    info_written = _seen.get(loop_id, set())
    waits = {}
    for t in all_tasks:
        w = _task_wait(t, bounded)
        if w is None:
            return None
        waits[t] = w
    bounded = _bounded_by_waiters(waits, bounded)
    task_events = []
    locks_seen = []
    for t in all_tasks:
        ev = _task_events(t, waits[t], bounded, info_written)
        task_events += ev
        for e in ev:
            if e[0] == TASK_WAITING and isinstance(e[2], locks.Lock) and e[2] not in locks_seen:
                locks_seen.append(e[2])
    _counter[0] += 1
    events = [(LOOP_IDLE, loop, _wakeable(loop), "snapshot %d" % _counter[0],
               _pending_timers(loop), 0)]
    events += task_events
    for lock in locks_seen:
        owner = _lock_owner(lock, alive)
        if owner:
            events.append((ASYNC_LOCK_OWNER, lock, owner, None, 0, 0))
    _seen[loop_id] = set(alive)
    return (loop, events)


# ---- install ------------------------------------------------------------------

def _selector_classes():
    names = ("SelectSelector", "PollSelector", "EpollSelector", "DevpollSelector",
             "KqueueSelector")
    return [getattr(selectors, n) for n in names if hasattr(selectors, n)]


def install(p):
    idle = _idle_ms()
    if idle <= 0:
        return
    for cls in _selector_classes():
        original = cls.__dict__.get("select")
        if original is not None and not isinstance(original, _native.SelectHook):
            p.replace(cls, "select", _native.SelectHook(original), original)
    _native.set_async_lock_helpers(asyncio.events.get_running_loop, tasks._current_tasks)
    p.hook(locks.Lock, "acquire", _native.async_lock_acquire_pre)
    if threading.current_thread() is threading.main_thread():
        _announce_signal_handlers()
    p.hook(signal, "signal", _signal_pre, _signal_post)
    _native.start_loop_snapshots(idle, snapshot)


def after_fork_in_child():
    """A forked child: its own snapshot watchdog, and TASK_INFO written
    anew in its own trace."""
    _seen.clear()
    idle = _idle_ms()
    if idle > 0:
        _native.start_loop_snapshots(idle, snapshot)


def uninstall():
    _native.stop_loop_snapshots()
