"""asgiref PR #277's shape: a threaded server runs the app's lifespan on one
thread's event loop and each request on another thread's loop. The lifespan
keeps an asyncio.Queue on the app (with a consumer task on the lifespan
loop); request handlers put jobs into it from their own loops. The program
raises nothing and, thanks to a periodic wake-up, even gets its jobs done:
the bug is silent (the consumer is woken from the wrong thread)."""
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
    app.state["jobs"].put_nowait("job-%d" % n)  # another thread's loop


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
    app.state["jobs"].put_nowait("stop")


t = threading.Thread(target=lambda: asyncio.run(stop()), name="request-3")
t.start()
t.join()
server.join(timeout=10)
print("processed", len(processed), "jobs")
