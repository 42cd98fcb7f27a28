"""asyncio.wait_for on an Event that nobody sets: the wait is bounded, times
out after 1.5 s, and the program goes on."""
import asyncio


async def main():
    ready = asyncio.Event()
    try:
        await asyncio.wait_for(ready.wait(), 1.5)
    except asyncio.TimeoutError:
        print("gave up waiting")
    async with asyncio.timeout(1.0):
        try:
            await ready.wait()
        except asyncio.CancelledError:
            print("timeout cancelled the wait")
            raise


try:
    asyncio.run(main())
except TimeoutError:
    print("timed out again")
