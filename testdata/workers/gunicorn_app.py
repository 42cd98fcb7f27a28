"""An ASGI app for gunicorn with uvicorn workers (tests/integration/
test_worker_processes.py): `gunicorn -k uvicorn.workers.UvicornWorker -w 2
--bind 127.0.0.1:PORT gunicorn_app:app`.

  /pid       the worker's pid
  /quote     reads the price under prices_lock, releases it, then waits for
             the refresher pool to refresh it: healthy
  /checkout  waits for the refresher pool *while holding* prices_lock, and
             the refresh needs prices_lock: the request's executor thread
             and the refresher's worker wait for each other forever
             (cross-call-deadlock), and that worker process hangs
"""
import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

prices_lock = threading.Lock()
refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refresher")
prices = {"apple": 3}


def refresh_prices():
    with prices_lock:
        prices["apple"] += 1


def quote():
    with prices_lock:
        price = prices["apple"]
    refresher.submit(refresh_prices).result()
    return price


def checkout():
    with prices_lock:
        refresher.submit(refresh_prices).result()  # the refresh needs prices_lock
        return prices["apple"]


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    loop = asyncio.get_running_loop()
    if scope["path"] == "/checkout":
        body = str(await loop.run_in_executor(None, checkout))
    elif scope["path"] == "/quote":
        body = str(await loop.run_in_executor(None, quote))
    else:
        body = str(os.getpid())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body.encode()})
