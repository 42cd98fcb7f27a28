"""os.fork() in a threaded program: while other threads hold a threading
lock, run an event loop and keep an executor busy, the main thread forks.
The child uses threading, a ThreadPoolExecutor and asyncio on its own and
exits normally; the parent waits for it. Nothing may hang."""
import asyncio
import concurrent.futures
import os
import threading
import time

held = threading.Lock()
stop = threading.Event()


def holder():
    with held:
        stop.wait()


def loop_thread():
    async def tick():
        while not stop.is_set():
            await asyncio.sleep(0.01)
    asyncio.run(tick())


def child_work():
    lock = threading.Lock()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        total = sum(pool.map(lambda x: x * 2, range(10)))
    with lock:
        total += asyncio.run(asyncio.sleep(0.01, result=1))
    return total


threads = [threading.Thread(target=holder), threading.Thread(target=loop_thread)]
for t in threads:
    t.start()
busy = concurrent.futures.ThreadPoolExecutor(1)
busy.submit(stop.wait)
time.sleep(0.1)
pid = os.fork()
if pid == 0:
    print("child", child_work(), flush=True)
    raise SystemExit(0)
_, status = os.waitpid(pid, 0)
stop.set()
for t in threads:
    t.join()
busy.shutdown()
print("parent saw child exit", os.waitstatus_to_exitcode(status), flush=True)
