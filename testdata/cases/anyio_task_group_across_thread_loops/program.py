"""asgiref PR #277's seed with Debian's anyio: a threaded server runs the
lifespan on one thread's event loop; the lifespan opens an anyio task group
and a memory object stream and keeps both on the app. Request handlers, each
on its own thread's loop, use them: start_soon a task into the lifespan's
task group, and send a message to the consumer the task group runs. Nothing
raises; a heartbeat keeps the lifespan loop waking up, so the messages even
get through: the crossing is silent."""
import asyncio
import threading

import anyio


class App:
    def __init__(self):
        self.state = {}


app = App()
lifespan_ready = threading.Event()
requests_done = threading.Event()
received = []
audited = []


async def consumer(receive_stream):
    async with receive_stream:
        async for message in receive_stream:
            received.append(message)


async def audit(n):
    # Done at once. (Were it still running when the request's loop ends, that
    # loop would cancel it, and anyio would cancel the lifespan's task group
    # from the request thread: the lifespan loop, not woken, may then never
    # finish. A real outcome of this bug, too timing-dependent for a test.)
    audited.append(n)


async def heartbeat(stopped):
    while not stopped.is_set():
        await anyio.sleep(0.01)


async def lifespan():
    send_stream, receive_stream = anyio.create_memory_object_stream(10)
    stopped = anyio.Event()
    async with anyio.create_task_group() as tg:
        app.state["tg"] = tg
        app.state["send"] = send_stream
        tg.start_soon(consumer, receive_stream)
        tg.start_soon(heartbeat, stopped)
        await anyio.sleep(0.05)
        lifespan_ready.set()
        # Shut down from this loop's own thread, whatever the requests did
        # to it (a message sent from another loop can be lost: the bug).
        deadline = anyio.current_time() + 5
        while not (requests_done.is_set() and len(received) >= 3):
            if anyio.current_time() > deadline:
                break
            await anyio.sleep(0.01)
        stopped.set()
        tg.cancel_scope.cancel()


async def handle_request(n):
    app.state["tg"].start_soon(audit, n)  # a task group of another loop
    app.state["send"].send_nowait("request-%d" % n)  # wakes the lifespan loop's consumer


def serve_request(n):
    anyio.run(handle_request, n)


server = threading.Thread(target=lambda: anyio.run(lifespan), name="lifespan")
server.start()
lifespan_ready.wait(10)
for n in range(3):
    t = threading.Thread(target=serve_request, args=(n,), name="request-%d" % n)
    t.start()
    t.join()


requests_done.set()
server.join()
print("received", len(received), "messages")
