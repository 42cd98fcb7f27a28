"""Starting and stopping the shim: trace file, live pointer file, hooks,
atexit and fork handling."""

import atexit
import os
import sys
import threading
import time

from . import _hooks
from . import _native
from . import _kinds as K

_lock = threading.RLock()
_owner_pid = None       # pid that started the current trace
_pointer_file = None    # <per-user dir>/live/<pid> (trace/private_files.h)
_atexit_registered = False
_fork_registered = False
_pattern = None         # the path given to start(), '%p' unexpanded: a forked child's too
_max_bytes = 0          # the bound given to start(): a forked child's too
_fork_ns = 0            # CLOCK_MONOTONIC just before the last os.fork(): a child's start
_quiet_events = None    # events appended when the trace started (and by the shim's own
                        # exec events since): more means something of the program was recorded
_exec_superseded = False  # the exec under way replaces a trace that recorded nothing

_SHIM_PREFIX = os.path.dirname(__file__) + os.sep


def is_running():
    """True while this process records a trace."""
    return _owner_pid == os.getpid() and _native.is_recording()


def trace_path():
    """The absolute path of the trace being written, or None."""
    return _native.trace_path() if is_running() else None


def start(path, max_bytes=None):
    """Start recording to `path` ('%p' is replaced by the pid). An existing
    file is never overwritten: the trace then goes to PATH-STEM.<pid>.wgtrace
    beside it; trace_path() says which. Returns that path.

    `max_bytes` bounds the file (a flight recorder: the oldest events are
    dropped, the live state kept); None: WAITGRAPH_TRACE_MAX if set, else
    unbounded; 0: unbounded.

    Raises OSError if the file cannot be created, RuntimeError if this
    process is already recording."""
    if max_bytes is None:
        max_bytes = _trace_max(os.environ.get("WAITGRAPH_TRACE_MAX"), 0)
    return _start(path, max_bytes)


def stop():
    """Stop recording: SHIM_STOPPED, final flush, close, unpatch. Returns
    True if a trace was being recorded by this process."""
    global _owner_pid, _pointer_file
    with _lock:
        if _owner_pid != os.getpid():
            return False
        _owner_pid = None
        _hooks.uninstall()
        _native.stop()
        if _pointer_file is not None:
            try:
                os.unlink(_pointer_file)
            except OSError:
                pass
            _pointer_file = None
        return True


def flush():
    """Write everything recorded so far to the trace now (the writer does it
    every 50 ms anyway); True if recording."""
    return is_running() and _native.flush()


def kept_counts():
    """What the shim keeps in memory now, table by table: {"part.table":
    entries}. A long-running program's counts level off (dead objects'
    state is forgotten); a count that keeps growing is a leak to report."""
    return _native.kept_counts()


def begin_scope(name):
    """SCOPE_BEGIN: a named span of the program (e.g. one pytest test, name =
    its node id); findings are attributed to the innermost open scope.
    Returns the scope id for end_scope() (0 when not recording)."""
    if not is_running():
        return 0
    sid = _native.new_id()
    _native.emit(K.SCOPE_BEGIN, sid, 0, str(name), 0, True)
    return sid


def end_scope(scope_id):
    """SCOPE_END for an id from begin_scope()."""
    if scope_id:
        _native.emit(K.SCOPE_END, scope_id, 0, None, 0, False)


class scope:
    """with waitgraph.scope("tests/test_x.py::test_y"): ...  (no-op when not
    recording)."""

    def __init__(self, name):
        self._name = name
        self._id = 0

    def __enter__(self):
        self._id = begin_scope(self._name)
        return self

    def __exit__(self, *exc):
        end_scope(self._id)
        return False


def _expand(path):
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return os.path.abspath(path.replace("%p", str(os.getpid())))


_LIBRARY_PATHS = ("stdlib", "platstdlib", "purelib", "platlib")


def _library_paths():
    """sysconfig.get_paths()'s stdlib, platstdlib, purelib and platlib,
    without sysconfig.get_config_vars(): that loads the interpreter's
    build-time variables (~4M instructions at every start), none of which
    these paths use. The few variables they name are filled in as sysconfig
    fills them in; a scheme naming any other variable gets sysconfig's own
    answer."""
    import sysconfig

    values = {
        "base": os.path.normpath(sys.prefix),
        "platbase": os.path.normpath(sys.exec_prefix),
        "installed_base": os.path.normpath(sys.base_prefix),
        "installed_platbase": os.path.normpath(sys.base_exec_prefix),
        "platlibdir": sys.platlibdir,
        "py_version_short": "%d.%d" % sys.version_info[:2],
        "py_version_nodot": "%d%d" % sys.version_info[:2],
        "abiflags": getattr(sys, "abiflags", ""),
    }
    templates = sysconfig.get_paths(expand=False)
    try:
        return [os.path.normpath(os.path.expanduser(templates[k]).format(**values))
                if k in templates else None for k in _LIBRARY_PATHS]
    except (KeyError, IndexError, ValueError, AttributeError):
        paths = sysconfig.get_paths()
        return [paths.get(k) for k in _LIBRARY_PATHS]


def _library_prefixes():
    import site

    dirs = []
    try:
        dirs += _library_paths()
    except Exception:
        pass
    try:
        dirs += site.getsitepackages()
    except Exception:
        pass
    try:
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    dirs += [p for p in sys.path
             if os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")]
    out = []
    for d in dirs:
        if not d:
            continue
        for v in (os.path.abspath(d), os.path.realpath(d)):
            v = v.rstrip(os.sep) + os.sep
            if v not in out:
                out.append(v)
    return out


def _flush_ms():
    try:
        v = int(os.environ.get("WAITGRAPH_FLUSH_MS", "50"))
        return v if v > 0 else 50
    except ValueError:
        return 50


# The bound of a trace started from the environment (WAITGRAPH_TRACE) when
# WAITGRAPH_TRACE_MAX is not set: a flight recorder keeps the newest 128 to
# 256 MiB, minutes of a busy server, in a fixed amount of disk.
DEFAULT_TRACE_MAX = 256 << 20
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text):
    """'256M' -> 268435456: a byte count with an optional K, M, G or T
    (powers of 1024; a trailing B or iB is allowed). None if it is not one."""
    import re
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*", text, re.IGNORECASE)
    if m is None or (m.group(2) == "" and text.strip().upper().endswith("IB")):
        return None
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def _trace_max(value, default):
    """WAITGRAPH_TRACE_MAX: a size ('0': unbounded); unset or empty: `default`;
    anything else: `default`, with one line saying so."""
    if value is None or not value.strip():
        return default
    size = parse_size(value)
    if size is None:
        sys.stderr.write("waitgraph: WAITGRAPH_TRACE_MAX=%s is not a size (e.g. 256M, 1G; 0 for "
                         "no bound); using %dM\n" % (value, default >> 20))
        return default
    return size


def _storage_timeout_ms():
    """How long the program may wait for the trace's storage (open, final
    flush at exit) before it goes on without it."""
    try:
        v = int(os.environ.get("WAITGRAPH_STORAGE_TIMEOUT_MS", "2000"))
        return v if v > 0 else 2000
    except ValueError:
        return 2000


def _recorded_argv():
    """sys.argv[0] only: arguments can hold secrets (--password=...). All of
    it with WAITGRAPH_RECORD_ARGV=1."""
    argv = [a for a in (getattr(sys, "argv", None) or []) if isinstance(a, str)]
    if argv and argv[0] == "-m":
        argv[0] = _module_program()
    if os.environ.get("WAITGRAPH_RECORD_ARGV") == "1":
        return argv
    return argv[:1]


def before_exec():
    """os.execv/os.execve is about to replace this process's image: say so
    in the trace (PROCESS_EXEC, arg 1 if nothing of the program was
    recorded since the trace started, e.g. a forked child that only execs:
    the reports leave such a trace out) and flush it, since the writer
    thread ends with the image. Such a child's live pointer goes too: the
    exec'd image, if Python, writes its own."""
    global _quiet_events, _exec_superseded, _pointer_file
    if not is_running():
        return
    nothing = _quiet_events is not None and _native.events_appended() == _quiet_events
    _native.emit(K.PROCESS_EXEC, 0, 0, None, 1 if nothing else 0, True)
    _native.flush()
    _exec_superseded = nothing
    if nothing:
        _quiet_events = _native.events_appended()
        if _pointer_file is not None:
            try:
                os.unlink(_pointer_file)
            except OSError:
                pass
            _pointer_file = None


def after_failed_exec():
    """The exec failed: the process goes on with its trace."""
    global _quiet_events, _pointer_file
    if not is_running():
        return
    _native.emit(K.PROCESS_EXEC_FAILED, 0, 0, None, 0, False)
    if _exec_superseded:
        _quiet_events = _native.events_appended()
        if _pointer_file is None:
            _pointer_file = _write_pointer(_native.trace_path())


def _module_program():
    """'-m uvicorn' for `python3 -m uvicorn ...`: until runpy has found the
    module, sys.argv[0] is just '-m', which says nothing of the program."""
    orig = getattr(sys, "orig_argv", None) or []
    for i, a in enumerate(orig):
        if a == "-m" and i + 1 < len(orig):
            return "-m " + orig[i + 1]
        if a.startswith("-m") and len(a) > 2:
            return "-m " + a[2:]
    return "-m"


def _write_pointer(path):
    """Best effort: <per-user dir>/live/<pid> names the trace (read by
    `waitgraph live PID`); see trace/private_files.h."""
    try:
        return _native.write_live_pointer(path)
    except OSError as e:
        if os.environ.get("WAITGRAPH_DEBUG"):
            sys.stderr.write("waitgraph: no live pointer: %s\n" % (e,))
        return None


def _origin():
    """ProcessInfo.origin of a process started by exec: what kind of
    multiprocessing process it is, told by the command line Python was
    given (only classified here, never recorded)."""
    orig = getattr(sys, "orig_argv", None) or []
    code = next((orig[i + 1] for i, a in enumerate(orig[:-1]) if a == "-c"), "")
    for module, origin in (("multiprocessing.spawn", "multiprocessing-spawn"),
                           ("multiprocessing.forkserver", "multiprocessing-forkserver"),
                           ("multiprocessing.resource_tracker", "multiprocessing-resource-tracker")):
        if code.startswith("from %s import" % module):
            return origin
    return ""


def _start(path, max_bytes=0, origin=None, began_ns=0):
    global _owner_pid, _pointer_file, _atexit_registered, _fork_registered, _pattern, _max_bytes
    with _lock:
        if is_running():
            raise RuntimeError("waitgraph is already recording to %s" % _native.trace_path())
        pattern = path
        path = _expand(path)
        _native.set_debug(bool(os.environ.get("WAITGRAPH_DEBUG")))
        _native.start(path, sys.executable or "", "%d.%d.%d" % sys.version_info[:3],
                      _recorded_argv(), _library_prefixes(), _SHIM_PREFIX, _flush_ms(),
                      os.environ.get("WAITGRAPH_RUN_ID", ""), _storage_timeout_ms(),
                      _origin() if origin is None else origin, began_ns, max_bytes)
        path = _native.trace_path()  # the file created (never an existing one)
        _owner_pid = os.getpid()
        _pattern = pattern
        _max_bytes = max_bytes
        from . import _hooks_threading
        _hooks_threading.announce_running_threads()
        _hooks.install()
        _pointer_file = _write_pointer(path)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        if not _fork_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
            _fork_registered = True
        global _quiet_events
        _quiet_events = _native.events_appended()
        return path


def start_from_env(value):
    """sitecustomize: start from WAITGRAPH_TRACE, never raising. A failure
    is reported as one line on stderr and the program runs unchanged."""
    try:
        # A child process that inherited the variable gets a file of its own
        # (an existing trace is never reused: trace/private_files.h).
        _start(value, _trace_max(os.environ.get("WAITGRAPH_TRACE_MAX"), DEFAULT_TRACE_MAX))
    except OSError as e:
        reason = e.strerror or str(e)
        sys.stderr.write("waitgraph: cannot write trace %s: %s; running without the shim\n"
                         % (_expand(value), reason))
    except Exception as e:  # never break the program
        sys.stderr.write("waitgraph: cannot start: %s; running without the shim\n" % (e,))


def _at_exit():
    try:
        stop()
    except Exception:
        pass


def _before_fork():
    # Workers are numbered in the order they were forked, which is not
    # always the order their shims start in.
    global _fork_ns
    _fork_ns = time.monotonic_ns()


_python_forks = 0  # os.fork/os.forkpty calls under way (_hooks_process)


def python_fork_begins():
    global _python_forks
    _python_forks += 1


def python_fork_ends():
    global _python_forks
    _python_forks = max(0, _python_forks - 1)


def _follow_forks():
    return os.environ.get("WAITGRAPH_FOLLOW_FORK", "1") != "0"


def _forked_by_subprocess():
    """The child of subprocess.Popen (CPython runs the fork handlers in it
    only to call a preexec_fn) execs from C right after: not a process
    image of its own, and an exec from C is not seen (PROCESS_EXEC)."""
    module = sys.modules.get("subprocess")
    where = getattr(module, "__file__", None)
    frame = sys._getframe(1)
    while frame is not None and where:
        if frame.f_code.co_name == "_execute_child" and frame.f_code.co_filename == where:
            return True
        frame = frame.f_back
    return False


def _after_fork_in_child():
    # The native fork handler has already stopped recording in the child
    # (it must not write to the parent's file) and given it fresh locks.
    # Forget the parent's trace; if the parent was recording, the child
    # records its own trace from here (a pre-fork server's worker, a
    # multiprocessing "fork" worker), to the same path pattern: '%p' gives
    # it its own name, and a fixed path, which exists, PATH-STEM.<pid>.
    global _owner_pid, _pointer_file, _lock, _python_forks
    parent_was_recording = _owner_pid is not None and _pattern is not None
    forked_by_python = _python_forks > 0
    _python_forks = 0  # the child's only thread is the forking one (its post hook ends at 0)
    _owner_pid = None
    _pointer_file = None
    _lock = threading.RLock()  # another thread of the parent may have held it
    if not parent_was_recording or not _follow_forks() or not forked_by_python or _forked_by_subprocess():
        return
    try:
        _hooks.after_fork_in_child()  # the watchdog threads are not in the child
        _start(_pattern, _max_bytes, origin="fork", began_ns=_fork_ns)
    except Exception as e:  # never break the child
        sys.stderr.write("waitgraph: cannot record the forked process %d: %s; it runs without "
                         "the shim\n" % (os.getpid(), e))
