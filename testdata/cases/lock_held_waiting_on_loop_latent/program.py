"""Latent, through an event loop: a coroutine on the loop thread takes the
stats lock at one time; later a thread holds the stats lock while it waits
(run_coroutine_threadsafe(...).result()) for a coroutine on that loop. Had
the loop been in its `with stats_lock` then, both would hang."""
import asyncio
import threading

stats_lock = threading.Lock()
stats = {"hits": 0}
loop = asyncio.new_event_loop()
loop_thread = threading.Thread(target=loop.run_forever, name="loop")
loop_thread.start()


async def record_hit():
    await asyncio.sleep(0.1)
    with stats_lock:
        stats["hits"] += 1


async def render():
    await asyncio.sleep(0.1)
    return "page"


asyncio.run_coroutine_threadsafe(record_hit(), loop).result()
with stats_lock:
    page = asyncio.run_coroutine_threadsafe(render(), loop).result()
print(page, stats["hits"])
loop.call_soon_threadsafe(loop.stop)
loop_thread.join()
loop.close()
