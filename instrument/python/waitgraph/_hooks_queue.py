"""queue.Queue (and its subclasses): blocking get() on an empty queue and
blocking put() on a full bounded queue."""

import queue

from . import _native
from . import _kinds as K
from ._hooks import tls


def _get_pre(self, block=True, timeout=None):
    if not block or self._qsize() or (timeout is not None and timeout <= 0):
        return None  # does not block (a negative timeout raises)
    if self is getattr(tls, "quiet_queue", None):
        return None  # CurrentThreadExecutor's own queue: its wait is recorded
    return (self, K.ENTITY_QUEUE | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0),
            "queue.Queue.get")


def _put_pre(self, item, block=True, timeout=None):
    if (not block or self.maxsize <= 0 or self._qsize() < self.maxsize
            or (timeout is not None and timeout <= 0)):
        return None
    return (self, K.ENTITY_QUEUE | (K.WAIT_HAS_TIMEOUT if timeout is not None else 0),
            "queue.Queue.put")


def install(p):
    p.hook(queue.Queue, "get", _get_pre, None, K.HOOK_QUIET, queue.Empty)
    p.hook(queue.Queue, "put", _put_pre, None, K.HOOK_QUIET, queue.Full)
