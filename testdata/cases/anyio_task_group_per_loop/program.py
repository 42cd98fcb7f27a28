"""Negative twin of anyio_task_group_across_thread_loops: the same threaded
server and lifespan, but each request opens its own task group (per-loop
state) for its own tasks, and hands messages to the lifespan's consumer
through the lifespan loop's thread-safe door (anyio.from_thread would need
an anyio worker thread; run_coroutine_threadsafe is the asyncio one).
Nothing crosses: waitgraph must stay silent."""
import asyncio
import threading

import anyio


class App:
    def __init__(self):
        self.state = {}


app = App()
lifespan_ready = threading.Event()
received = []
audited = []


async def consumer(receive_stream):
    async with receive_stream:
        async for message in receive_stream:
            received.append(message)
            if message == "stop":
                return


async def audit(n):
    await anyio.sleep(0.05)  # outlives the request's loop, which cancels it at exit
    audited.append(n)


async def heartbeat(stopped):
    while not stopped.is_set():
        await anyio.sleep(0.01)


async def lifespan():
    send_stream, receive_stream = anyio.create_memory_object_stream(10)
    stopped = anyio.Event()
    async with anyio.create_task_group() as tg:
        app.state["tg"] = tg
        app.state["loop"] = asyncio.get_running_loop()
        app.state["send"] = send_stream
        tg.start_soon(consumer, receive_stream)
        tg.start_soon(heartbeat, stopped)
        await anyio.sleep(0.05)
        lifespan_ready.set()
        while "stop" not in received:
            await anyio.sleep(0.01)
        stopped.set()


async def handle_request(n):
    async with anyio.create_task_group() as tg:  # this request's own task group
        tg.start_soon(audit, n)
    await send_on_lifespan_loop("request-%d" % n)


async def send_on_lifespan_loop(message):
    fut = asyncio.run_coroutine_threadsafe(app.state["send"].send(message), app.state["loop"])
    await asyncio.wrap_future(fut)


def serve_request(n):
    anyio.run(handle_request, n)


server = threading.Thread(target=lambda: anyio.run(lifespan), name="lifespan")
server.start()
lifespan_ready.wait(10)
for n in range(3):
    t = threading.Thread(target=serve_request, args=(n,), name="request-%d" % n)
    t.start()
    t.join()


async def stop():
    await send_on_lifespan_loop("stop")


t = threading.Thread(target=lambda: anyio.run(stop), name="request-stop")
t.start()
t.join()
server.join(10)
print("received", len(received), "messages")
