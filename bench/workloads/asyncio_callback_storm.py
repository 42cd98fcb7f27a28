"""Benchmark workload: the stall watchdog's hot path, asyncio's
Handle._run, which runs every callback and task step.

Hundreds of tasks that only yield (await asyncio.sleep(0): one task step and
one callback each time) plus bursts of plain call_soon callbacks; no
stalls, so what is measured is the per-callback cost of the timer (two
clock reads and two stores into the thread's slot) and of the other asyncio
hooks (loop affinity's call_soon check), with the watchdog thread polling
in the background.

usage: asyncio_callback_storm.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import asyncio
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(1, int(50 * SCALE))
TASKS = 200
YIELDS = 50
CALLBACKS = 5000


async def yielder():
    for _ in range(YIELDS):
        await asyncio.sleep(0)


async def main():
    loop = asyncio.get_running_loop()
    counter = [0]

    def bump():
        counter[0] += 1

    for _ in range(ROUNDS):
        await asyncio.gather(*(yielder() for _ in range(TASKS)))
        for _ in range(CALLBACKS):
            loop.call_soon(bump)
        await asyncio.sleep(0)
    print("steps", ROUNDS * TASKS * YIELDS, "callbacks", counter[0])


asyncio.run(main())
