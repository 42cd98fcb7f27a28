"""A task awaits an asyncio.Event that nothing left can set: the default
executor's worker is idle, the loop has no timer and no socket. The whole
process sleeps forever."""
import asyncio


def warm_up():
    return "warm"


async def main():
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    print(await loop.run_in_executor(None, warm_up))  # leaves an idle worker
    await ready.wait()  # the code that would set it was never written
    print("never printed")


asyncio.run(main())
