"""The latent form of lock_held_waiting_on_pool_deadlock (lockdep's
flush_workqueue under a lock): a job of the pool takes the config lock at
one time; later a thread waits, holding the config lock, for a job of the
same pool. Had the two met, it would hang."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

config_lock = threading.Lock()
config = {"mode": "fast"}
pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker")


def read_mode():
    with config_lock:
        return config["mode"]


def render():
    time.sleep(0.05)  # still running when the caller starts to wait
    return "page"


print(pool.submit(read_mode).result())
with config_lock:
    config["mode"] = "slow"
    print(pool.submit(render).result())
pool.shutdown()
