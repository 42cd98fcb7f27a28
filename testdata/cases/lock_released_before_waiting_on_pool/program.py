"""Twin of lock_held_waiting_on_pool_deadlock: the job is submitted under
the lock, but the lock is released before waiting for it."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

registry_lock = threading.Lock()
registry = {}
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="loader")


def load(name):
    time.sleep(0.05)  # still running when the caller starts to wait
    with registry_lock:
        registry[name] = len(name)
        return registry[name]


def register(name):
    with registry_lock:
        future = pool.submit(load, name)
        print("submitted")
    return future.result()


print(register("plugin"))
pool.shutdown()
