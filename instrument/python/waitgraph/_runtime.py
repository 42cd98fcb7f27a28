"""Starting and stopping the shim: trace file, live pointer file, hooks,
atexit and fork handling."""

import atexit
import os
import sys
import threading

from . import _hooks
from . import _native
from . import _kinds as K

_lock = threading.RLock()
_owner_pid = None       # pid that started the current trace
_pointer_file = None    # ${TMPDIR:-/tmp}/waitgraph-live/<pid>
_atexit_registered = False
_fork_registered = False

_SHIM_PREFIX = os.path.dirname(__file__) + os.sep


def is_running():
    """True while this process records a trace."""
    return _owner_pid == os.getpid() and _native.is_recording()


def trace_path():
    """The absolute path of the trace being written, or None."""
    return _native.trace_path() if is_running() else None


def start(path):
    """Start recording to `path` ('%p' is replaced by the pid).

    Raises OSError if the file cannot be created, RuntimeError if this
    process is already recording."""
    _start(path)


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


def _library_prefixes():
    import site
    import sysconfig

    dirs = []
    try:
        paths = sysconfig.get_paths()
        dirs += [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
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


def _live_dir():
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "waitgraph-live")


def _write_pointer(path):
    """Best effort: ${TMPDIR:-/tmp}/waitgraph-live/<pid> holds the trace path
    (read by `waitgraph live PID`)."""
    d = _live_dir()
    try:
        try:
            os.mkdir(d, 0o1777)
            os.chmod(d, 0o1777)  # shared like /tmp, whatever the umask
        except FileExistsError:
            pass
        pid = os.getpid()
        final = os.path.join(d, str(pid))
        tmp = os.path.join(d, ".%d.tmp" % pid)
        with open(tmp, "w") as f:
            f.write(path)
        os.replace(tmp, final)
        return final
    except OSError:
        return None


def _owner_of(path):
    """pid of another live process whose pointer file names `path`, or None."""
    d = _live_dir()
    try:
        names = os.listdir(d)
    except OSError:
        return None
    me = os.getpid()
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(os.path.join(d, name)) as f:
                if f.read().strip() != path:
                    continue
            os.kill(int(name), 0)
            return int(name)
        except (OSError, ValueError):
            continue
    return None


def _start(path):
    global _owner_pid, _pointer_file, _atexit_registered, _fork_registered
    with _lock:
        if is_running():
            raise RuntimeError("waitgraph is already recording to %s" % _native.trace_path())
        path = _expand(path)
        _native.set_debug(bool(os.environ.get("WAITGRAPH_DEBUG")))
        _native.start(path, sys.executable or "", "%d.%d.%d" % sys.version_info[:3],
                      list(getattr(sys, "argv", None) or []), _library_prefixes(),
                      _SHIM_PREFIX, _flush_ms())
        _owner_pid = os.getpid()
        from . import _hooks_threading
        _hooks_threading.announce_running_threads()
        _hooks.install()
        _pointer_file = _write_pointer(path)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        if not _fork_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_registered = True
        return path


def start_from_env(value):
    """sitecustomize: start from WAITGRAPH_TRACE, never raising. A failure
    is reported as one line on stderr and the program runs unchanged."""
    try:
        path = _expand(value)
        other = _owner_of(path) if "%p" not in value else None
        if other is not None:
            # A child process of the traced program inherited its variable:
            # stay silent (its output must not change); one trace per
            # process needs %p in WAITGRAPH_TRACE.
            if os.environ.get("WAITGRAPH_DEBUG"):
                sys.stderr.write("waitgraph: trace %s is being written by pid %d; running without "
                                 "the shim\n" % (path, other))
            return
        _start(value)
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


def _after_fork_in_child():
    # The native fork handler has already stopped recording in the child
    # (it must not write to the parent's file). Forget the parent's trace.
    global _owner_pid, _pointer_file
    _owner_pid = None
    _pointer_file = None
