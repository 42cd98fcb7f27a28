"""The same server as uvicorn_blocking_endpoint, but /slow awaits
asyncio.sleep instead of calling time.sleep: the loop keeps serving /ping.
Negative twin of loop-stall."""
import asyncio
import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

BLOCK_S = 0.5
blocked_for = []


async def slow(request):
    start = time.monotonic()
    await asyncio.sleep(BLOCK_S)  # yields: the loop serves /ping meanwhile
    blocked_for.append(time.monotonic() - start)
    return PlainTextResponse("done")


async def ping(request):
    return PlainTextResponse("pong")


app = Starlette(routes=[Route("/slow", slow), Route("/ping", ping)])


def client(port):
    body, latency = uvicorn_harness.ping_while_slow(port)
    print("ping answered %s after %.0f ms" % (body, latency * 1000))
    print("slow waited %.3f s" % blocked_for[0])


if __name__ == "__main__":
    uvicorn_harness.serve(app, client)
