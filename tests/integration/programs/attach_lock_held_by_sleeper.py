"""The negative twin of an RLock ABBA for `waitgraph attach`: one thread
holds an RLock and sleeps (a slow critical section, still moving), another
waits for it with `with lock:`, the main thread joins them. Nothing is
deadlocked: time alone ends the wait; no finding is right."""
import threading
import time

lock = threading.RLock()
holding = threading.Event()


def slow_section():
    with lock:
        holding.set()
        time.sleep(600)


def waiter():
    holding.wait()
    with lock:
        pass


threads = [threading.Thread(target=slow_section, name="holder", daemon=True),
           threading.Thread(target=waiter, name="waiter", daemon=True)]
for t in threads:
    t.start()
holding.wait()
print("waiting", flush=True)
for t in threads:
    t.join()
