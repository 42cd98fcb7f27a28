"""Contexts: ContextVar get/set/reset (in C, native/context_hooks.cc), and
where contexts are copied or not copied:

- BaseEventLoop.create_task (so asyncio.create_task, ensure_future, gather,
  TaskGroup, anyio's start_soon), in C (_native.wrap_create_task): when the
  caller gives no context=, it passes the copy the Task would have made
  itself, so we know the child's context object; with context= the task
  runs in that context.
- contextvars.copy_context (asgiref's sync_to_async/async_to_sync and user
  code; asyncio's own per-callback copies are left out in C).
- ThreadPoolExecutor.submit (and so loop.run_in_executor) and Thread.start:
  work handed to another thread without a copy (CONTEXT_HANDOFF).
- asgiref.local.Local (3.6 keeps its storage on the task or thread, not in
  a ContextVar): attribute set/get as var events whose "context" is that
  storage owner, and each new task's empty storage as a copy of its parent's.

Install last: the submit and Thread.start hooks wrap the hooks other
modules put there. Never values: ids, names, code locations.
"""

import contextvars
import threading
from asyncio import base_events
from concurrent.futures import thread as _cf_thread

from . import _native
from . import _kinds as K

_emit = _native.emit
_handoff = _native.context_handoff
_copy_context_raw = contextvars.copy_context  # the original: not recorded

# trace/waitgraph_trace.proto: EventKind, ContextCopyKind
CONTEXT_COPIED = 60
CONTEXT_VAR_SET = 62
CONTEXT_VAR_GET = 63
COPY_LOCAL = 4


class _NativeSwitch:
    """A Patcher entry for the C-level swap of ContextVar's methods: undoing
    the patch (setting `on` back to False) puts the originals back."""

    on = False

    def __setattr__(self, name, value):
        if name == "on" and not value:
            _native.contextvar_hooks_uninstall()
            _native.set_task_created_callback(None)
        object.__setattr__(self, name, value)


# --- asgiref.local.Local ---------------------------------------------------

_local_var_ids = {}  # (oid of the Local, attribute) -> var id
_LOCAL_INTERNAL = ("_context_refs", "_thread_critical", "_thread_lock", "_attr_name")


class _ScopeProbe:
    _thread_critical = False


_probe = _ScopeProbe()


def _local_scope(local_cls, local=None):
    """The object asgiref keeps Local storage on right now (a task or a
    thread, resolved through sync_to_async/async_to_sync launch maps)."""
    return local_cls._get_context_id(local if local is not None else _probe)


def _local_var(local, key):
    k = (_native.oid(local), key)
    vid = _local_var_ids.get(k)
    if vid is None:
        vid = _local_var_ids[k] = _native.new_id()
    return vid


def _thread_critical(local):
    # From the instance dict: a missing attribute would go through
    # Local.__getattr__ (hooked, and the user's storage).
    try:
        return 1 if vars(local).get("_thread_critical") else 0
    except TypeError:
        return 0


# Repeated reads are not recorded, as for ContextVar.get (native/
# context_hooks.cc): a get of the same attribute, in the same storage, on the
# same thread, with the same outcome as the last one recorded there and no
# Local attribute set anywhere since, tells the analyzer nothing new.
_local_set_serial = 0
_local_last_get = {}  # (var id, storage id, thread) -> (set serial, found)
_LOCAL_LAST_GET_MAX = 4096  # forgotten (not wrong: more is recorded) past this


# The storage owner a Local attribute call resolved: asgiref's own
# Local._get_context_id inside the call (hooked: its post keeps the result
# in the call's slot) rather than a second resolution of ours (an import,
# the current task and thread, the launch maps: more than the rest of the
# hook). A slot lives only while its Local call runs, so nothing is kept
# alive past it: [local, key, scope or _NO_SCOPE, the enclosing call's slot].
_NO_SCOPE = object()
_calls = threading.local()


def _begin_local_call(self, key):
    slot = [self, key, _NO_SCOPE, getattr(_calls, "slot", None)]
    _calls.slot = slot
    return slot


def _end_local_call(local_cls, slot):
    """The scope `slot`'s call resolved (or resolves it now)."""
    _calls.slot = slot[3]
    scope = slot[2]
    return _local_scope(local_cls, slot[0]) if scope is _NO_SCOPE else scope


def _context_id_post(token, result, exc):
    slot = getattr(_calls, "slot", None)
    if slot is not None and slot[0] is token and slot[2] is _NO_SCOPE and exc is None:
        slot[2] = result


def _make_local_hooks(local_cls):
    def setattr_pre(self, key, value):
        if key in _LOCAL_INTERNAL:
            return None
        return _begin_local_call(self, key)

    def setattr_post(token, result, exc):
        global _local_set_serial
        _local_set_serial += 1
        self, key = token[0], token[1]
        scope = _end_local_call(local_cls, token)
        # arg 1: per task/thread by contract (Local(thread_critical=True)).
        _emit(CONTEXT_VAR_SET, _local_var(self, key), scope, "Local." + key,
              _thread_critical(self), True)

    def getattr_post(token, result, exc):
        self, key = token[0], token[1]
        vid = _local_var(self, key)
        scope = _native.oid(_end_local_call(local_cls, token))
        found = 1 if exc is None else 0
        where = (vid, scope, _native.tid())
        seen = (_local_set_serial, found)
        if _local_last_get.get(where) == seen:
            return
        if len(_local_last_get) >= _LOCAL_LAST_GET_MAX:
            _local_last_get.clear()
        _local_last_get[where] = seen
        _emit(CONTEXT_VAR_GET, vid, scope, "Local." + key, found, True)

    return setattr_pre, setattr_post, getattr_post


def _patch_local(module, patcher):
    cls = getattr(module, "Local", None)
    if cls is None or not hasattr(cls, "_get_context_id"):
        return
    setattr_pre, setattr_post, getattr_post = _make_local_hooks(cls)
    _native.set_task_created_callback(_make_task_created(cls))
    # List tokens (the call's slot): not waits; posts see whether the
    # attribute was found, and the scope the call resolved.
    patcher.hook(cls, "_get_context_id", _native.self_token_pre, _context_id_post)
    patcher.hook(cls, "__setattr__", setattr_pre, setattr_post)
    patcher.hook(cls, "__getattr__", _begin_local_call, getattr_post)


# --- tasks -------------------------------------------------------------------
# BaseEventLoop.create_task is replaced by _native.wrap_create_task (C: it
# passes context=copy_context() when the caller gave none, and records the
# copy). Local storage needs the parent task's scope: a callback after each
# task is made, installed once asgiref.local is imported.

def _make_task_created(local_cls):
    def task_created(task):
        _emit(CONTEXT_COPIED, task, _local_scope(local_cls), "create_task", COPY_LOCAL, True)
    return task_created


def _patch_uvloop(module, patcher):
    """uvloop.Loop is a Python subclass of uvloop's C loop and inherits its C
    create_task (which copies the context in C, out of sight): wrapped on
    the subclass as BaseEventLoop's is, so each task's context copy is
    recorded on uvloop too (asyncio.create_task, gather, TaskGroup and
    uvloop's own run_until_complete all look it up on the loop)."""
    cls = getattr(module, "Loop", None)
    if not isinstance(cls, type) or "create_task" in cls.__dict__:
        return
    # The wrapper passes context=, which uvloop's create_task takes from
    # 0.17 on (older ones would raise TypeError into the program).
    version = getattr(module, "__version__", "")
    parts = []
    for part in version.split(".")[:2]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    if tuple(parts) < (0, 17):
        return
    current = getattr(cls, "create_task", None)
    if current is not None:
        patcher.replace(cls, "create_task", _native.wrap_create_task(current), current)


# --- hand-offs to threads -------------------------------------------------

def _thread_start_pre(self):
    return [self]


def _thread_start_post(token, result, exc):
    if exc is None:
        nid = getattr(token[0], "native_id", None)
        if nid:
            _handoff(nid, K.ENTITY_THREAD, "Thread.start")


def _wrap(p, owner, name, pre, post):
    """A Hook around whatever is there now (possibly another module's Hook:
    Patcher.hook would refuse to wrap it)."""
    current = owner.__dict__[name]
    p.replace(owner, name, _native.Hook(current, pre, post, 0, None), current)


def install(p):
    if not _native.contextvar_hooks_install():
        return  # not CPython 3.11's layout: record nothing about contexts
    switch = _NativeSwitch()
    object.__setattr__(switch, "on", True)
    p._patches.append((switch, "on", False, True))

    p.replace(contextvars, "copy_context", _native.copy_context, _copy_context_raw)

    L = base_events.BaseEventLoop
    current = L.__dict__["create_task"]
    p.replace(L, "create_task", _native.wrap_create_task(current), current)

    # In C (per submit): self as the token, then CONTEXT_HANDOFF(future).
    _wrap(p, _cf_thread.ThreadPoolExecutor, "submit", _native.self_token_pre,
          _native.submit_handoff_post)
    _wrap(p, threading.Thread, "start", _thread_start_pre, _thread_start_post)

    from . import _hooks_asgiref
    _hooks_asgiref.TARGETS["asgiref.local"] = _patch_local
    _hooks_asgiref.TARGETS["uvloop"] = _patch_uvloop
