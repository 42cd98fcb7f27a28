"""A service stuck in several ways at once, for `waitgraph live --watch`.

The main thread runs an event loop that awaits work on a one-worker pool;
that worker and the thread "audit" take two locks in opposite orders and
deadlock; a second job waits in the pool's queue; the thread "idle-waiter"
waits for an Event nobody sets. Prints "ready" once all of that holds.
"""
import asyncio
import concurrent.futures
import threading
import time

accounts_lock = threading.Lock()
ledger_lock = threading.Lock()
both_hold_one = threading.Barrier(2)
never_set = threading.Event()


def transfer():
    with accounts_lock:
        both_hold_one.wait()
        with ledger_lock:
            return "transfer done"


def audit():
    with ledger_lock:
        both_hold_one.wait()
        time.sleep(0.05)
        with accounts_lock:
            print("audit done")


async def main():
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool")
    threading.Thread(target=audit, name="audit", daemon=True).start()
    threading.Thread(target=never_set.wait, name="idle-waiter", daemon=True).start()
    first = loop.run_in_executor(pool, transfer)
    queued = loop.run_in_executor(pool, time.sleep, 0)
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await asyncio.gather(first, queued)


asyncio.run(main())
