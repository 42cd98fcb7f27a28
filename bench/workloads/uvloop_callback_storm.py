"""Benchmark workload: asyncio_callback_storm on uvloop (uvloop.install()),
where the shim cannot time callbacks and instead samples the loop thread
(native/loop_thread_sampler.h): a C++ thread reads two words of the loop
thread's state every threshold/10. No stalls, so what is measured is what
the sampler and the other hooks that still apply on uvloop (create_task's
context copy, ContextVar use) cost a busy loop.

usage: uvloop_callback_storm.py [SCALE]   (SCALE 1.0 takes ~1 s uninstrumented)
"""
import asyncio
import sys

import uvloop

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


uvloop.install()
asyncio.run(main())
