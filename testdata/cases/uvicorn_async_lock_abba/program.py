"""A real uvicorn + Starlette server whose two endpoints take two
asyncio.Locks in opposite orders. Two concurrent requests each take one lock
and wait for the other, forever. The server stays up (uvicorn's main loop
still ticks every 0.1 s and the listening socket still accepts), so the loop
never sits long in one select: the task snapshots must still see the cycle."""
import asyncio
import http.client
import threading

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import os, sys  # the shared case plumbing: testdata/harness
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness"))
import uvicorn_harness

accounts = asyncio.Lock()
ledger = asyncio.Lock()


async def transfer(first, second):
    async with first:
        await asyncio.sleep(0.1)  # let the other request take its first lock
        async with second:
            return PlainTextResponse("done")


async def debit(request):
    return await transfer(accounts, ledger)


async def credit(request):
    return await transfer(ledger, accounts)  # the opposite order


app = Starlette(routes=[Route("/debit", debit), Route("/credit", credit)])


answers = []


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    answers.append(conn.getresponse().read().decode())
    conn.close()


def client(port):
    print("starting transfers", flush=True)
    requests = [threading.Thread(target=get, args=(port, p), daemon=True)
                for p in ("/debit", "/credit")]
    for r in requests:
        r.start()
    for r in requests:
        r.join()
    print("%d transfers %s" % (len(answers), " and ".join(answers)), flush=True)


def main():
    uvicorn_harness.serve(app, client, daemon=True)


if __name__ == "__main__":
    main()
