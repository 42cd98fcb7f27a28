"""Loop stalls and saturated limiters.

* asyncio.events.Handle._run (every callback and task step of a pure-Python
  loop) is replaced by a `_native.StallTimer`: two clock reads per callback
  into a per-thread slot that the C++ watchdog (native/stall_watchdog.h)
  polls without the GIL. A callback that overruns WAITGRAPH_STALL_MS
  (default 100) is sampled during the stall and reported when it ends.
  The Python functions here run only for stalls: `on_stall` (on the loop
  thread, after the overrun callback) and `describe_call` (on the watchdog,
  GIL held, during the stall).
* gc.callbacks gets `_native.gc_callback` (C: two clock reads per
  collection, nothing recorded), so that a stall spent in a garbage
  collection is reported as one (LOOP_STALL_GC), with its generation.
* anyio's CapacityLimiter (what Starlette's run_in_threadpool and
  iterate_in_threadpool go through, via anyio.to_thread.run_sync): tokens
  waited for, acquired and released, and, when a borrower has to queue, the
  stacks of the worker threads that hold the tokens.

Names and code locations only, never values."""

import dis
import gc
import os
import sys
import types
from asyncio import events

from . import _native
from ._import_patch import PatchOnImport

# trace/waitgraph_trace.proto (LOOP_STALL* are emitted in C: native/stall_watchdog.cc)
LIMITER_TOKEN = 83
HOLDER_SAMPLE = 84
LIMITER_WAITING, LIMITER_ACQUIRED, LIMITER_RELEASED = 0, 1, 2

_MAX_NAMES = 4


def _threshold_ms():
    """WAITGRAPH_STALL_MS: the stall threshold; 0 turns stall detection off."""
    try:
        v = float(os.environ.get("WAITGRAPH_STALL_MS", "100"))
        return v if v >= 0 else 100.0
    except ValueError:
        return 100.0


# ---- what a callback is -----------------------------------------------------

def _qualname(fn):
    for _ in range(8):
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is None or not callable(inner):
            break
        fn = inner
    name = getattr(fn, "__qualname__", None)
    if not isinstance(name, str):
        name = type(fn).__qualname__
    return name


def _coro_name(task):
    get_coro = getattr(task, "get_coro", None)
    coro = get_coro() if get_coro is not None else None
    name = getattr(coro, "__qualname__", None)
    return name if isinstance(name, str) else type(task).__name__


def _describe_callback(cb):
    owner = getattr(cb, "__self__", None)
    if owner is not None and hasattr(owner, "get_coro") and hasattr(owner, "_loop"):
        return "task %s" % _coro_name(owner)  # Task.__step / __wakeup
    return _qualname(cb)


def _describe_handle(handle):
    cb = getattr(handle, "_callback", None)
    return _describe_callback(cb) if cb is not None else type(handle).__name__


def _names(descs):
    seen = []
    for d in descs:
        if d not in seen:
            seen.append(d)
        if len(seen) >= _MAX_NAMES:
            break
    more = len(set(descs)) - len(seen)
    return ", ".join(seen) + (", ..." if more > 0 else "")


def on_stall(handle, duration_ns):
    """After a callback overran: (loop, what it was, [(count, delay_ns,
    what)]) -- the ready callbacks it held up, the timers that fell due
    meanwhile and the sockets with input waiting."""
    loop = getattr(handle, "_loop", None)
    what = _describe_handle(handle)
    delayed = []
    if loop is None:
        return (None, what, delayed)
    ready = getattr(loop, "_ready", None)
    if ready is not None and len(ready):
        descs = [_describe_handle(h) for h in list(ready) if not getattr(h, "_cancelled", False)]
        if descs:
            delayed.append((len(descs), int(duration_ns), "ready: " + _names(descs)))
    scheduled = getattr(loop, "_scheduled", None)
    if scheduled:
        now = loop.time()
        late = [h for h in list(scheduled) if not h._cancelled and h._when <= now]
        if late:
            worst = max(now - h._when for h in late)
            delay = min(int(worst * 1e9), int(duration_ns))
            delayed.append((len(late), delay,
                            "timers: " + _names([_describe_handle(h) for h in late])))
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        try:
            ready_io = selector.select(0)  # level-triggered: consumes nothing
        except Exception:
            ready_io = ()
        descs = []
        for key, mask in ready_io:
            data = key.data
            if not isinstance(data, tuple) or len(data) != 2:
                continue  # the loop's self-pipe and the like
            reader, writer = data
            h = reader if (mask & 1 and reader is not None) else writer
            if h is not None:
                descs.append(_describe_handle(h))
        if descs:
            delayed.append((len(descs), int(duration_ns), "sockets: " + _names(descs)))
    return (loop, what, delayed)


# ---- what call a stalled frame is in ----------------------------------------

_CALLS = ("CALL", "CALL_FUNCTION_EX")
_LOADS = ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_FAST", "LOAD_DEREF", "LOAD_CLASSDEREF",
          "LOAD_CONST")


def _resolve(frame, chain):
    """'time.sleep' for a chain whose head is a module global, looked up in
    dicts only (no attribute code runs): an alias (from time import sleep)
    becomes the function's own module.qualname."""
    parts = chain.split(".")
    obj = frame.f_globals.get(parts[0], frame.f_builtins.get(parts[0]))
    if obj is None:
        return chain
    for part in parts[1:]:
        if not isinstance(obj, types.ModuleType):
            return chain
        obj = obj.__dict__.get(part)
        if obj is None:
            return chain
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qual, str) and callable(obj):
        if module == "builtins":
            return qual
        return "%s.%s" % (module, qual)
    return chain


def describe_call(frame):
    """The callable the frame is calling right now ("time.sleep"), from its
    bytecode up to the current instruction; None if it is not in a call."""
    code = frame.f_code
    lasti = frame.f_lasti
    current = None
    callables = []  # open calls of the current statement, innermost last
    chain = None
    null_pushed = False
    open_marker = False  # the innermost callable is the chain being loaded
    instructions = list(dis.get_instructions(code))
    # f_lasti is the current instruction, or (after a call into Python code)
    # the last inline cache entry after it: the instruction is the last one
    # that starts at or before it.
    at = max((i for i, ins in enumerate(instructions) if ins.offset <= lasti), default=None)
    if at is None:
        return None
    for i, ins in enumerate(instructions):
        if ins.starts_line is not None:
            callables, chain, null_pushed, open_marker = [], None, False, False
        op = ins.opname
        if i == at:
            current = op
            break
        if op in _LOADS:
            chain = ins.argval if isinstance(ins.argval, str) else None
            open_marker = (op == "LOAD_GLOBAL" and ins.arg is not None and bool(ins.arg & 1)) \
                or null_pushed
            if open_marker:
                callables.append(chain)
            null_pushed = False
        elif op == "PUSH_NULL":
            null_pushed, open_marker = True, False
        elif op == "LOAD_ATTR":
            chain = "%s.%s" % (chain, ins.argval) if chain else None
            if open_marker and callables:
                callables[-1] = chain  # time.sleep: LOAD_GLOBAL (NULL + time), LOAD_ATTR sleep
        elif op == "LOAD_METHOD":
            callables.append("%s.%s" % (chain, ins.argval) if chain else ins.argval)
            chain, open_marker = None, False
        elif op in _CALLS:
            if callables:
                callables.pop()
            open_marker = False
        elif op not in ("PRECALL", "KW_NAMES", "CACHE"):
            open_marker = False
    if current not in _CALLS and current != "PRECALL":
        return None
    if not callables or callables[-1] is None:
        return None
    return _resolve(frame, callables[-1])


# ---- anyio CapacityLimiter ---------------------------------------------------

def _limiter_arg(limiter, phase):
    total = getattr(limiter, "_total_tokens", 0)
    try:
        total = int(total)
    except (OverflowError, ValueError):
        total = 0  # math.inf: unbounded
    return phase | (max(total, 0) << 8)


def _busy_worker_threads():
    """(tid, name, frame) of anyio worker threads that run a job now; an idle
    one sits in its queue's get() right under WorkerThread.run."""
    import threading
    out = []
    frames = sys._current_frames()
    for t in threading.enumerate():
        if type(t).__name__ != "WorkerThread" or t.ident not in frames or t.native_id is None:
            continue
        f = frames[t.ident]
        child, g = None, f
        while g is not None and not (g.f_code.co_name == "run"
                                     and g.f_code.co_filename.endswith("_asyncio.py")):
            child, g = g, g.f_back
        if g is None or child is None or child.f_code.co_name == "get":
            continue
        out.append((t.native_id, t.name, f))
    return out


def _acquire_nowait_pre(self, borrower):
    return [self, borrower]


def _acquire_nowait_post(token, result, exc):
    limiter, borrower = token
    if exc is None:
        _native.emit(LIMITER_TOKEN, limiter, borrower, "anyio.CapacityLimiter",
                     _limiter_arg(limiter, LIMITER_ACQUIRED), True)
        return None
    if type(exc).__name__ != "WouldBlock":
        return None
    first_waiter = not getattr(limiter, "_wait_queue", None)
    _native.emit(LIMITER_TOKEN, limiter, borrower, "anyio.CapacityLimiter",
                 _limiter_arg(limiter, LIMITER_WAITING), True)
    if first_waiter:
        # The start of a queue: what holds every token now.
        for tid, name, frame in _busy_worker_threads():
            _native.emit(HOLDER_SAMPLE, limiter, tid, name, 0, _native.capture_frame_stack(frame))
    return None


def _release_pre(self, borrower):
    borrowers = getattr(self, "_borrowers", ())
    if borrower not in borrowers:
        return None  # raises RuntimeError
    _native.emit(LIMITER_TOKEN, self, borrower, "anyio.CapacityLimiter",
                 _limiter_arg(self, LIMITER_RELEASED), False)
    queue = getattr(self, "_wait_queue", None)
    if queue and len(borrowers) - 1 < self._total_tokens:
        # release() hands the freed token to this waiter (anyio 3.x pops the
        # most recent one: OrderedDict.popitem()).
        nxt = next(reversed(queue))
        _native.emit(LIMITER_TOKEN, self, nxt, "anyio.CapacityLimiter",
                     _limiter_arg(self, LIMITER_ACQUIRED), False)
    return None


def _patch_anyio(module, patcher):
    cls = getattr(module, "CapacityLimiter", None)
    if cls is None:
        return
    if "acquire_on_behalf_of_nowait" in cls.__dict__:
        patcher.hook(cls, "acquire_on_behalf_of_nowait", _acquire_nowait_pre, _acquire_nowait_post)
    if "release_on_behalf_of" in cls.__dict__:
        patcher.hook(cls, "release_on_behalf_of", _release_pre)


_TARGETS = {"anyio._backends._asyncio": _patch_anyio}




_import_hook = None


def install(p):
    global _import_hook
    threshold = _threshold_ms()
    if threshold > 0:
        original = events.Handle.__dict__["_run"]
        if not isinstance(original, _native.StallTimer):
            p.replace(events.Handle, "_run", _native.StallTimer(original), original)
        _native.start_stall_watchdog(threshold, on_stall, describe_call)
        if _native.gc_callback not in gc.callbacks:
            gc.callbacks.append(_native.gc_callback)
    if _import_hook is None:
        _import_hook = PatchOnImport(p, _TARGETS)
        _import_hook.install()


def after_fork_in_child():
    """The parent's watchdog thread is not in a forked child: start one."""
    threshold = _threshold_ms()
    if threshold > 0 and isinstance(events.Handle.__dict__.get("_run"), _native.StallTimer):
        _native.start_stall_watchdog(threshold, on_stall, describe_call)


def uninstall():
    global _import_hook
    try:
        gc.callbacks.remove(_native.gc_callback)
    except ValueError:
        pass
    if _import_hook is not None:
        _import_hook.uninstall()
        _import_hook = None
