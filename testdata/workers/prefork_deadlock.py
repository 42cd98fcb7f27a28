"""A minimal pre-fork server: the master starts a helper (`sleep`, not
Python) and forks two workers, then waits for them. Worker 2 takes a lock
and waits for pool work that needs the same lock (cross-call-deadlock);
worker 1 idles. For `waitgraph run --on-hang stop|stop-tree`
(tests/integration/test_worker_processes.py): the helper's pid is printed
so the test can tell whether it was stopped."""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Not on our stdout: a helper left running must not hold the caller's pipe.
helper = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("helper", helper.pid, flush=True)


def deadlock():
    lock = threading.Lock()
    pool = ThreadPoolExecutor(1)

    def refresh():
        with lock:
            pass

    with lock:
        pool.submit(refresh).result()


def worker(n):
    if n == 2:
        deadlock()
    time.sleep(300)


for n in (1, 2):
    if os.fork() == 0:
        worker(n)
        os._exit(0)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
sys.exit(0)
