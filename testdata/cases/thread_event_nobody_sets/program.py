"""A service's main thread waits for a threading.Event meant to be set by a
shutdown path that was never wired up; its pool's worker is idle. No thread
can move: the process sleeps forever."""
import threading
from concurrent.futures import ThreadPoolExecutor


def load_config():
    return "config loaded"


pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
print(pool.submit(load_config).result())
shutdown_requested = threading.Event()
shutdown_requested.wait()  # nothing left can set it
print("never printed")
