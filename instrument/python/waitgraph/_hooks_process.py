"""os._exit, os.execv/os.execve, and os.fork/os.forkpty.

os._exit: a process that ends through it (a multiprocessing worker, a
forked child, a pre-fork server's worker) runs no atexit handler, so the
shim stops first: what is buffered (up to WAITGRAPH_FLUSH_MS of events, a
worker's last job) reaches its trace, and its live pointer is removed.
Bounded by WAITGRAPH_STORAGE_TIMEOUT_MS, like an exit.

os.execv/os.execve (every os.exec* function calls one of them): the image
is about to be replaced, so PROCESS_EXEC is written and flushed first
(nothing buffered is lost with the image), saying whether the trace holds
anything of the program; a forked child that only exec's leaves a trace
the reports leave out. If the exec fails, PROCESS_EXEC_FAILED and the
trace goes on.

os.fork/os.forkpty: marked while they run, so the fork handler in the child
knows the fork came from Python. A C extension that forks and runs the
fork handlers (uvloop's subprocesses, through PyOS_AfterFork_Child) execs
from C right after: that child is not followed (it would leave an empty
trace that never stops cleanly; the exec'd Python, if any, records itself)."""

import os


def _exit_pre(*args, **kwargs):
    from . import _runtime
    _runtime.stop()
    return None


def _exec_pre(*args, **kwargs):
    from . import _runtime
    _runtime.before_exec()
    return True  # post runs only if the exec fails (else nothing runs after it)


def _exec_post(token, result, exception):
    from . import _runtime
    _runtime.after_failed_exec()


def _fork_pre(*args, **kwargs):
    from . import _runtime
    _runtime.python_fork_begins()
    return True


def _fork_post(token, result, exception):
    from . import _runtime
    _runtime.python_fork_ends()


def install(p):
    p.hook(os, "_exit", _exit_pre)
    for name in ("fork", "forkpty"):
        if hasattr(os, name):
            p.hook(os, name, _fork_pre, _fork_post)
    for name in ("execv", "execve"):
        if hasattr(os, name):
            p.hook(os, name, _exec_pre, _exec_post)
