"""The negative twin of uvicorn_uvloop_blocking_endpoint: a uvicorn server
on uvloop under load, healthy. Four client threads send 40 requests each
to async endpoints that await (asyncio.sleep, a short computation), and
one endpoint runs 20 tasks back to back that each block the loop for 40 ms
(time.sleep(0.04), below the 100 ms threshold): the loop's thread is busy
for 0.8 s without a break, but no single callback lasts the threshold.
loop-stall, which samples a uvloop thread and tells callbacks apart by
their context switches, must stay silent."""
import asyncio
import http.client
import threading
import time

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

CLIENTS, REQUESTS = 4, 40


async def item(request):
    await asyncio.sleep(0.001)
    total = sum(i * i for i in range(2000))
    return PlainTextResponse(str(total % 97))


def short_block():
    time.sleep(0.04)  # below the threshold: each callback is short


async def burst(request):
    async def step():
        short_block()

    for _ in range(20):
        await asyncio.create_task(step())
    return PlainTextResponse("burst")


app = Starlette(routes=[Route("/item", item), Route("/burst", burst)])


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def load(port, answers):
    for _ in range(REQUESTS):
        answers.append(get(port, "/item"))


def client(port):
    answers = []
    threads = [threading.Thread(target=load, args=(port, answers)) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    print("burst:", get(port, "/burst"))
    for t in threads:
        t.join()
    print("answers:", len(answers), "all", sorted(set(answers)))


def main():
    uvicorn_harness.serve(app, client, loop="uvloop")


if __name__ == "__main__":
    main()
