"""queue.Queue (and its subclasses): blocking get() on an empty queue and
blocking put() on a full bounded queue. The pre-callbacks are C
(native/wait_pre.cc): a ThreadPoolExecutor worker takes every work item with
Queue.get. get() on the queue of the CurrentThreadExecutor this thread runs
(tls.quiet_queue, _hooks_asgiref) is not a wait of its own: run_until_future
records it."""

import queue
from functools import partial

from . import _native
from . import _kinds as K
from ._hooks import tls


def install(p):
    p.hook(queue.Queue, "get", partial(_native.queue_get_pre, tls), None, K.HOOK_QUIET, queue.Empty)
    p.hook(queue.Queue, "put", _native.queue_put_pre, None, K.HOOK_QUIET, queue.Full)
