"""Negative twin of queue_across_thread_loops: the same threaded server
(lifespan on one thread's loop, each request on its own thread's loop), but
requests hand jobs to the lifespan loop with run_coroutine_threadsafe, and
keep their own per-loop state (a Queue made and used on the request's loop).
Nothing crosses: waitgraph must stay silent."""
import asyncio
import threading


class App:
    def __init__(self):
        self.state = {}


app = App()
lifespan_ready = threading.Event()
processed = []


async def lifespan():
    app.state["jobs"] = asyncio.Queue()  # bound to the lifespan loop at the consumer's first get()
    app.state["loop"] = asyncio.get_running_loop()
    done = asyncio.Event()
    app.state["done"] = done

    async def consumer():
        while True:
            job = await app.state["jobs"].get()
            processed.append(job)
            if job == "stop":
                done.set()
                return

    async def heartbeat():  # keeps the loop waking up, so the bug stays silent
        while not done.is_set():
            await asyncio.sleep(0.01)

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    lifespan_ready.set()
    await asyncio.gather(task, heartbeat())


async def handle_request(n):
    # Per-loop state: made and used on this request's loop only.
    local = asyncio.Queue()
    await local.put("job-%d" % n)
    job = await local.get()
    # Into the lifespan loop, through its thread-safe door.
    fut = asyncio.run_coroutine_threadsafe(app.state["jobs"].put(job), app.state["loop"])
    await asyncio.wrap_future(fut)


def request_thread(n):
    asyncio.run(handle_request(n))


server = threading.Thread(target=lambda: asyncio.run(lifespan()), name="lifespan")
server.start()
lifespan_ready.wait()
for n in range(3):
    t = threading.Thread(target=request_thread, args=(n,), name="request-%d" % n)
    t.start()
    t.join()


async def stop():
    app.state["loop"].call_soon_threadsafe(app.state["jobs"].put_nowait, "stop")


t = threading.Thread(target=lambda: asyncio.run(stop()), name="request-3")
t.start()
t.join()
server.join(timeout=10)
print("processed", len(processed), "jobs")
