"""A healthy service whose threads sit still: for `waitgraph attach` tests.

Idle pool workers, a consumer waiting on a queue with a timeout, a thread
waiting on an Event with a timeout, a joiner joining a sleeper with a
timeout, and an asyncio loop on its own thread woken by a periodic timer.
Nothing waits for anything that cannot come: no finding is right.

Once every thread is parked it prints "parked" and has faulthandler dump
every thread's stack to the file given as argv[1] from its watchdog thread
(so the main thread is dumped where it sits, in time.sleep), then sleeps.
"""
import asyncio
import faulthandler
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

stop = threading.Event()
jobs = queue.Queue()


def consume():
    while not stop.is_set():
        try:
            jobs.get(timeout=600)
        except queue.Empty:
            pass


def sleeper():
    time.sleep(600)


def joiner(other):
    other.join(timeout=600)


def watch():
    stop.wait(timeout=600)


async def tick():
    while True:
        await asyncio.sleep(0.5)


def loop_thread():
    asyncio.run(tick())


def main():
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="idle-pool")
    for f in [pool.submit(time.sleep, 0.01) for _ in range(2)]:
        f.result()
    other = threading.Thread(target=sleeper, name="sleeper", daemon=True)
    other.start()
    for target, name, args in ((consume, "consumer", ()), (watch, "watcher", ()),
                               (joiner, "joiner", (other,)), (loop_thread, "loop", ())):
        threading.Thread(target=target, name=name, args=args, daemon=True).start()
    time.sleep(0.5)  # every thread reaches its wait
    with open(sys.argv[1], "w") as out:
        faulthandler.dump_traceback_later(0.2, file=out)
        print("parked", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
