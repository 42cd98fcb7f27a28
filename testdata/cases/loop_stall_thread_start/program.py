"""A handler fans its work out to a thread pool with run_in_executor. Each
job calls into a C library without letting go of the GIL (through
ctypes.PyDLL, as a C extension that never releases the GIL would), and the
pool starts its workers on demand: ThreadPoolExecutor.submit ->
Thread.start waits until the new thread runs, which it cannot while a
previous worker holds the GIL. The loop stands still inside the stdlib's
Thread.start, not in a call the handler made: loop-stall must say so
(starting a pool's worker thread), with a fix that applies, and not warn."""
import asyncio
import ctypes
from concurrent.futures import ThreadPoolExecutor

libc = ctypes.PyDLL(None)  # PyDLL: calls keep the GIL
pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="crunch")


def crunch(n):
    libc.usleep(150_000)  # 0.15 s in C with the GIL held
    return n


async def handle(request):
    loop = asyncio.get_running_loop()
    jobs = [loop.run_in_executor(pool, crunch, n) for n in range(3)]
    return len(await asyncio.gather(*jobs))


async def main():
    print("handled", await handle("/report"), "jobs")
    pool.shutdown()


asyncio.run(main())
