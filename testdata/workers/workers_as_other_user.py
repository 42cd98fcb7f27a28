"""A master whose workers do not record where it does
(tests/integration/test_worker_processes.py, live-other-user): run as
root, with the shim, it starts

  - a worker as another user (`setpriv --reuid UID`), with the shim: it
    records to a directory of that user, and its live pointer is in that
    user's per-user directory, not in the master's;
  - a worker without the shim (no PYTHONPATH, no WAITGRAPH_TRACE);

each of which deadlocks in `checkout` as testdata/workers/gunicorn_app.py
does (a lock held while waiting for pool work that takes it). Then the
master waits to be stopped.

usage: workers_as_other_user.py UID TRACE_PATTERN_FOR_THAT_USER
"""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def deadlock():
    prices_lock = threading.Lock()
    refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresher")

    def refresh_prices():
        with prices_lock:
            pass

    def checkout():
        with prices_lock:
            refresher.submit(refresh_prices).result()  # the refresh needs prices_lock

    threading.Thread(target=checkout, name="checkout", daemon=True).start()
    time.sleep(0.5)
    print("worker %d (uid %d) deadlocked" % (os.getpid(), os.geteuid()), flush=True)
    time.sleep(120)


def main():
    if sys.argv[1] == "worker":
        return deadlock()
    uid, pattern = sys.argv[1], sys.argv[2]
    env = dict(os.environ, WAITGRAPH_TRACE=pattern)
    env.pop("WAITGRAPH_DIR", None)
    env.pop("XDG_RUNTIME_DIR", None)
    other = subprocess.Popen(["setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--",
                              sys.executable, __file__, "worker"], env=env)
    plain_env = {k: v for k, v in os.environ.items()
                 if not k.startswith("WAITGRAPH_") and k != "PYTHONPATH"}
    plain = subprocess.Popen([sys.executable, __file__, "worker"], env=plain_env)
    print("master %d: workers %d %d" % (os.getpid(), other.pid, plain.pid), flush=True)
    try:
        time.sleep(120)
    finally:
        other.kill()
        plain.kill()


if __name__ == "__main__":
    main()
