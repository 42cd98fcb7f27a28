"""Negative twin of handoff_into_stopped_loop: work handed to a loop before
its thread starts running it (legitimate: it runs as soon as the loop runs),
then the loop is stopped and closed after the work is done. Silent."""
import asyncio
import threading

loop = asyncio.new_event_loop()
ran = []


async def flush_metrics():
    ran.append("flush")
    return "flushed"


loop.call_soon_threadsafe(ran.append, "callback")  # before the loop runs
fut = asyncio.run_coroutine_threadsafe(flush_metrics(), loop)
worker = threading.Thread(target=loop.run_forever, name="loop-worker")
worker.start()
print("result:", fut.result(timeout=10), "ran", ran)
loop.call_soon_threadsafe(loop.stop)
worker.join()
loop.close()
