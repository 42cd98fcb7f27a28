"""asgiref (Django's sync/async bridge): AsyncToSync hands its coroutine to
the outer event loop (FUTURE_PRODUCER); CurrentThreadExecutor blocks its
thread until a future is done (a wait). Patched when asgiref.sync /
asgiref.current_thread_executor get imported, or at once if they already
are."""

import sys

from . import _native
from . import _kinds as K
from ._hooks import tls

_emit = _native.emit


def _main_wrap_pre(self, args, kwargs, call_result, *rest, **kw):
    loop = self.main_event_loop
    if loop is not None and loop.is_running():
        _emit(K.FUTURE_PRODUCER, call_result, loop, "AsyncToSync", K.ENTITY_LOOP, True)
    return None


def _run_until_future_pre(self, future):
    previous = getattr(tls, "quiet_queue", None)
    # The executor's own queue.get() calls are this wait; work items it runs
    # meanwhile are recorded normally.
    tls.quiet_queue = self._work_queue
    return (future, K.ENTITY_FUTURE, "CurrentThreadExecutor.run_until_future", previous)


def _run_until_future_post(token, result, exc):
    tls.quiet_queue = token[3]
    return None


def _patch_sync(module, patcher):
    cls = getattr(module, "AsyncToSync", None)
    if cls is not None and "main_wrap" in cls.__dict__:
        patcher.hook(cls, "main_wrap", _main_wrap_pre)


def _patch_cte(module, patcher):
    cls = getattr(module, "CurrentThreadExecutor", None)
    if cls is not None and "run_until_future" in cls.__dict__:
        patcher.hook(cls, "run_until_future", _run_until_future_pre, _run_until_future_post)


TARGETS = {
    "asgiref.sync": _patch_sync,
    "asgiref.current_thread_executor": _patch_cte,
}
