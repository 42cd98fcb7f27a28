"""asgiref issue #545's shape: work handed with call_soon_threadsafe /
run_coroutine_threadsafe into an event loop that has stopped (its thread
finished run_forever) but was not closed. Nothing raises at the hand-off:
the callback never runs and the caller's future never completes (here it
gives up after a timeout)."""
import asyncio
import concurrent.futures
import threading

loop = asyncio.new_event_loop()
worker = threading.Thread(target=loop.run_forever, name="loop-worker")
worker.start()
loop.call_soon_threadsafe(loop.stop)  # shutting down the worker's loop
worker.join()

ran = []


async def flush_metrics():
    ran.append("flush")
    return "flushed"


loop.call_soon_threadsafe(ran.append, "callback")  # queued, never run
fut = asyncio.run_coroutine_threadsafe(flush_metrics(), loop)
try:
    print("result:", fut.result(timeout=0.3))
except concurrent.futures.TimeoutError:
    print("result: timed out; ran", ran)
loop.close()
