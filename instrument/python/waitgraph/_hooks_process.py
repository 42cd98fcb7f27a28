"""os._exit: a process that ends through it (a multiprocessing worker, a
forked child, a pre-fork server's worker) runs no atexit handler, so the
shim stops first: what is buffered (up to WAITGRAPH_FLUSH_MS of events, a
worker's last job) reaches its trace, and its live pointer is removed.
Bounded by WAITGRAPH_STORAGE_TIMEOUT_MS, like an exit."""

import os


def _exit_pre(*args, **kwargs):
    from . import _runtime
    _runtime.stop()
    return None


def install(p):
    p.hook(os, "_exit", _exit_pre)
