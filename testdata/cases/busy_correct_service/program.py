"""A busy async service that mixes sync and async code correctly.

Fifty requests arrive at once. Each one:
  - runs sync "ORM" code with sync_to_async (thread-sensitive, the default:
    asgiref's shared single-thread executor),
  - from that sync code calls async helpers back with async_to_sync (the
    loop is free, so the worker's wait is answered), and those helpers call
    the ORM again with sync_to_async (it runs on the waiting worker through
    its CurrentThreadExecutor),
  - offloads CPU work with loop.run_in_executor,
  - appends to an access log drained by a writer thread through queue.Queue.
Background threads use Event and Condition waits with timeouts. Nothing uses
ThreadSensitiveContext, and no thread ever blocks the event loop, so there is
no deadlock, potential or actual.
"""
import asyncio
import hashlib
import queue
import threading
import time

from asgiref.sync import async_to_sync, sync_to_async

ACCESS_LOG = queue.Queue()
STOP = threading.Event()


class RateLimiter:
    """Token bucket refilled by a background thread; takers wait on a Condition."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.cond = threading.Condition()

    def take(self):
        with self.cond:
            while not self.cond.wait_for(lambda: self.tokens > 0, timeout=0.05):
                pass
            self.tokens -= 1

    def refill_forever(self):
        while not STOP.wait(timeout=0.01):
            with self.cond:
                self.tokens = min(self.tokens + 1, 1)
                self.cond.notify_all()


LIMITER = RateLimiter(tokens=0)  # 100 tokens/s: the 50 requests really wait


def access_log_writer(lines):
    while True:
        entry = ACCESS_LOG.get()
        if entry is None:
            return
        lines.append("%s %d" % entry)


def orm_get_user(user_id):
    time.sleep(0.001)  # database round trip
    return {"id": user_id, "name": "user%d" % user_id}


async def permissions_for(user):
    await asyncio.sleep(0.001)  # call the auth service
    groups = await sync_to_async(orm_get_user)(user["id"] + 1000)  # back to the ORM
    return ["read"] if groups["id"] % 2 else ["read", "write"]


def authenticate(user_id):
    LIMITER.take()
    user = orm_get_user(user_id)
    user["perms"] = async_to_sync(permissions_for)(user)
    return user


def render(user):
    return hashlib.sha256(repr(user).encode()).hexdigest()[:12]


async def handle_request(user_id):
    loop = asyncio.get_running_loop()
    user = await sync_to_async(authenticate)(user_id)
    etag = await loop.run_in_executor(None, render, user)
    ACCESS_LOG.put(("GET /profile/%d" % user_id, 200))
    return etag


async def serve(n):
    return await asyncio.gather(*(handle_request(i) for i in range(n)))


def main():
    lines = []
    writer = threading.Thread(target=access_log_writer, args=(lines,), name="access-log")
    refiller = threading.Thread(target=LIMITER.refill_forever, name="rate-refill")
    writer.start()
    refiller.start()

    etags = asyncio.run(serve(50))

    ACCESS_LOG.put(None)
    STOP.set()
    writer.join()
    refiller.join()
    print("served", len(etags), "requests,", len(lines), "log lines", flush=True)


if __name__ == "__main__":
    main()
