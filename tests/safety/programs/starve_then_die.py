"""A one-worker pool whose only task waits for a task queued behind it
(executor starvation, a deadlock), then the process is SIGKILLed while
still starved: its trace ends with the deadlock open."""
import concurrent.futures as cf
import os
import signal
import time

pool = cf.ThreadPoolExecutor(1)


def outer():
    return pool.submit(pow, 2, 3).result()


pool.submit(outer)
time.sleep(0.5)
print("starved; dying", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
