"""A handler fans its work out to a thread pool with run_in_executor. Each
job's first step is a C call that keeps the GIL (sorting a big list), and
the pool starts its workers on demand: ThreadPoolExecutor.submit ->
Thread.start waits until the new thread runs, which it cannot while a
previous worker holds the GIL. The loop stands still inside the stdlib's
Thread.start, not in a call the handler made: loop-stall must say so
(starting a pool's worker thread), with a fix that applies, and not warn."""
import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

random.seed(7)
DATA = [random.random() for _ in range(150_000)]
pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="crunch")


def crunch(n):
    return sorted(DATA)[n]  # C code: keeps the GIL for the whole sort


async def handle(request):
    loop = asyncio.get_running_loop()
    jobs = [loop.run_in_executor(pool, crunch, n) for n in range(4)]
    return len(await asyncio.gather(*jobs))


async def main():
    print("handled", await handle("/report"), "jobs")
    pool.shutdown()


asyncio.run(main())
