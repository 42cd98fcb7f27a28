"""Issue 13 item 8 (4): per request, two hand-offs into an event loop that
ran once and stopped for good (call_soon_threadsafe from one line, and
run_coroutine_threadsafe, a new future each time) and a job cancelled while
it waits in a one-worker pool's queue. Before the fix, `waitgraph run
--model-stats` showed loop_affinity.pending_handoffs, model.executor_queued
and saturation.jobs growing by one or two per request (bench/RESULTS.md,
item 8 part 4).

usage: handoff_and_cancel_churn.py REQUESTS
"""
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def noop():
    pass


def main():
    n = int(sys.argv[1])
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asyncio.sleep(0))  # ran once, never again
    pool = ThreadPoolExecutor(max_workers=1)
    for _ in range(n):
        loop.call_soon_threadsafe(noop)
        coro = asyncio.sleep(0)
        asyncio.run_coroutine_threadsafe(coro, loop)
        running = pool.submit(time.sleep, 0.0002)
        pool.submit(noop).cancel()  # cancelled before it starts
        running.result()
    pool.shutdown()
    print("served", n)


if __name__ == "__main__":
    main()
