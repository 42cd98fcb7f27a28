"""Installs and removes the hooks. Every hook is a `_native.Hook` (a C
wrapper: no extra frame in tracebacks, original result/exception passed on
untouched) around the original, with small Python `pre`/`post` callbacks
that only look at ids, names and states -- never values."""

import sys
import threading

from . import _native

# Per-thread state shared by the hook modules (never user-visible).
tls = threading.local()


class Patcher:
    def __init__(self):
        self._patches = []  # (owner, name, original, replacement)

    def hook(self, owner, name, pre, post=None, flags=0, timeout_exc=None):
        if isinstance(owner, type):
            original = owner.__dict__[name]
        else:
            original = getattr(owner, name)
        if isinstance(original, _native.Hook):
            return original  # already ours
        replacement = _native.Hook(original, pre, post, flags, timeout_exc)
        self.replace(owner, name, replacement, original)
        return replacement

    def replace(self, owner, name, replacement, original=None):
        if original is None:
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, replacement)
        self._patches.append((owner, name, original, replacement))

    def undo_all(self):
        while self._patches:
            owner, name, original, replacement = self._patches.pop()
            try:
                current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
                if current is replacement:
                    setattr(owner, name, original)
            except Exception:
                pass


_patcher = None
_import_hook = None


def install():
    global _patcher, _import_hook
    if _patcher is not None:
        return
    _patcher = Patcher()
    from . import _hooks_threading, _hooks_futures, _hooks_queue, _hooks_asyncio, _hooks_asgiref
    from ._import_patch import PatchOnImport
    from . import _hooks_loops
    from . import _hooks_stall
    from . import _hooks_locks
    from . import _hooks_tasks
    from . import _hooks_uncovered
    from . import _hooks_process
    from . import _hooks_contextvars  # last: wraps hooks installed before it

    for mod in (_hooks_threading, _hooks_futures, _hooks_queue, _hooks_asyncio, _hooks_loops,
                _hooks_stall, _hooks_locks, _hooks_tasks, _hooks_uncovered, _hooks_process,
                _hooks_contextvars):
        try:
            mod.install(_patcher)
        except Exception:
            _debug_report(mod.__name__)
    _import_hook = PatchOnImport(_patcher, _hooks_asgiref.TARGETS)
    _import_hook.install()


def uninstall():
    global _patcher, _import_hook
    if _import_hook is not None:
        _import_hook.uninstall()
        _import_hook = None
    from . import _hooks_stall, _hooks_tasks
    _hooks_stall.uninstall()
    _hooks_tasks.uninstall()
    if _patcher is not None:
        _patcher.undo_all()
        _patcher = None


def after_fork_in_child():
    """The child of os.fork(): the hooks are inherited, the shim's own
    threads are not. Restarted with the child's trace (see _runtime)."""
    if _patcher is None:
        return
    from . import _hooks_stall, _hooks_tasks
    for mod in (_hooks_stall, _hooks_tasks):
        try:
            mod.after_fork_in_child()
        except Exception:
            _debug_report(mod.__name__)


def _debug_report(what):
    import os
    if os.environ.get("WAITGRAPH_DEBUG"):
        import traceback
        sys.stderr.write("waitgraph: could not hook %s (ignored):\n" % what)
        traceback.print_exc()
