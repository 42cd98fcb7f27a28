"""The loop's own thread sets an asyncio.Event between two run_until_complete
calls, while the loop is idle: how anyio's pytest plugin finishes every
async-generator fixture. The same thread runs the loop before and after the
use: no crossing."""
import asyncio


async def wait_then_report(event):
    await event.wait()
    return "woken"


loop = asyncio.new_event_loop()
event = asyncio.Event()
task = loop.create_task(wait_then_report(event))
loop.run_until_complete(asyncio.sleep(0.01))  # the task now waits: event bound to loop
event.set()  # on the owning thread, loop idle
print("task ->", loop.run_until_complete(task))
loop.close()
