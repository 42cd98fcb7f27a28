"""Benchmark workload: a task- and executor-heavy asyncio program.

Rounds of: thousands of short tasks (create_task + gather, with awaits on
asyncio futures), run_in_executor hops to the default and a custom pool, and
plain executor submit/result from a worker thread. The work items are tiny,
so the run time is dominated by the machinery the shim instruments.

usage: asyncio_executor_heavy.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(1, int(40 * SCALE))
TASKS_PER_ROUND = 1000
EXECUTOR_HOPS_PER_ROUND = 200
SUBMITS_PER_ROUND = 200


def cpu_bit(n):
    return (n * 2654435761) & 0xFFFF


async def short_task(n):
    await asyncio.sleep(0)
    fut = asyncio.get_running_loop().create_future()
    fut.get_loop().call_soon(fut.set_result, n)
    return await fut


def submit_and_wait(pool, count):
    total = 0
    for i in range(count):
        total += pool.submit(cpu_bit, i).result()
    return total


async def main():
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench")
    side_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bench-side")
    checksum = 0
    for _ in range(ROUNDS):
        results = await asyncio.gather(*(asyncio.create_task(short_task(i)) for i in range(TASKS_PER_ROUND)))
        checksum += sum(results)
        hops = await asyncio.gather(
            *(loop.run_in_executor(pool if i % 2 else None, cpu_bit, i) for i in range(EXECUTOR_HOPS_PER_ROUND)))
        checksum += sum(hops)
        checksum += await loop.run_in_executor(side_pool, submit_and_wait, pool, SUBMITS_PER_ROUND)
    pool.shutdown()
    side_pool.shutdown()
    return checksum


if __name__ == "__main__":
    print("checksum", asyncio.run(main()))
