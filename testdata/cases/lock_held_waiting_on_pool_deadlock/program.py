"""A thread holds a lock while it waits for a ThreadPoolExecutor job whose
work takes that same lock: the job blocks on the lock, the holder on the
job, forever."""
import threading
from concurrent.futures import ThreadPoolExecutor

registry_lock = threading.Lock()
registry = {}
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="loader")


def load(name):
    with registry_lock:
        registry[name] = len(name)
        return registry[name]


def register(name):
    with registry_lock:
        future = pool.submit(load, name)
        print("submitted")
        return future.result()


print(register("plugin"))
