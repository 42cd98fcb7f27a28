"""A report service that runs fine for a while, then deadlocks twice over:
the flight recorder's test (tests/integration/test_flight_recorder.py).

In its first moments it makes a two-worker report pool, two locks that two
threads contend for (so the shim traces them), and an event loop in a
background thread. Then it serves thousands of small jobs through the pool
and the loop: enough events to wrap a bounded trace many times. Then two
report jobs starve the pool (each waits for a sub-job queued behind them),
while two threads take the two locks in opposite orders. Everything the
deadlocks involve was made long before the window a bounded trace keeps:
its checkpoint must carry it over.

With --fixed, the reports run their sub-jobs inline and the threads take the
locks in one order: it finishes (the negative twin).
"""
import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

FIXED = "--fixed" in sys.argv
JOBS = 12000

pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reports")
accounts_lock = threading.Lock()
ledger_lock = threading.Lock()
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, name="loop-thread", daemon=True).start()


def hold_accounts():
    with accounts_lock:
        time.sleep(0.02)


def warm_up():
    """Contended acquires: the shim traces both locks from here on."""
    for lock in (accounts_lock, ledger_lock):
        t = threading.Thread(target=hold_accounts if lock is accounts_lock else hold_ledger)
        t.start()
        time.sleep(0.005)
        with lock:
            pass
        t.join()


def hold_ledger():
    with ledger_lock:
        time.sleep(0.02)


def square(x):
    return x * x


async def add_async(x):
    return x + 1


def serve_small_jobs():
    total = 0
    for i in range(JOBS):
        total += pool.submit(square, i).result()
        if i % 10 == 0:
            total += asyncio.run_coroutine_threadsafe(add_async(i), loop).result()
    return total


def fetch_rows(report_id):
    time.sleep(0.01)
    return [report_id] * 3


def build_report(report_id):
    time.sleep(0.05)
    rows = fetch_rows(report_id) if FIXED else pool.submit(fetch_rows, report_id).result()
    return "report %d: %d rows" % (report_id, len(rows))


def transfer():
    with accounts_lock:
        both_hold_one.wait()
        with ledger_lock:
            pass


def audit():
    first, second = (accounts_lock, ledger_lock) if FIXED else (ledger_lock, accounts_lock)
    with first:
        if not FIXED:
            both_hold_one.wait()
        time.sleep(0.05)
        with second:
            pass


both_hold_one = threading.Barrier(2)


def main():
    warm_up()
    print("served", serve_small_jobs() > 0, flush=True)
    jobs = [pool.submit(build_report, report_id) for report_id in (1, 2)]
    print("submitted", len(jobs), "reports", flush=True)
    time.sleep(0.3)  # the pool is starved by now; the locks come second
    threads = [threading.Thread(target=transfer, name="transfer"),
               threading.Thread(target=audit, name="audit")]
    if FIXED:
        threads = threads[1:]
    for t in threads:
        t.start()
    for job in jobs:
        print(job.result(), flush=True)
    for t in threads:
        t.join()
    loop.call_soon_threadsafe(loop.stop)
    pool.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()
