"""The twin of thread_event_nobody_sets: the same wait, but the event is set
by a signal handler (SIGALRM here, SIGTERM in a real service). While it
waits, no thread can move, yet a signal still can: silent."""
import signal
import threading
from concurrent.futures import ThreadPoolExecutor


def load_config():
    return "config loaded"


pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader")
print(pool.submit(load_config).result())
shutdown_requested = threading.Event()
signal.signal(signal.SIGALRM, lambda signum, frame: shutdown_requested.set())
signal.setitimer(signal.ITIMER_REAL, 3.0)
shutdown_requested.wait()
print("shut down by a signal")
pool.shutdown()
