"""A future awaited on another loop: a service warms up on its boot loop
(thread "boot") and keeps the in-flight warm-up future so that callers can
join it. A request on the server loop (thread "server") awaits that future
directly. CPython raises "Task ... got Future ... attached to a different
loop" inside the request; the program reports a failed warm-up, far from the
cause."""
import asyncio
import threading

state = {}
ready = threading.Event()


async def boot():
    loop = asyncio.get_running_loop()
    state["loop"] = loop
    state["warmup"] = loop.create_future()  # the in-flight warm-up, kept for joiners
    ready.set()
    await asyncio.sleep(0.2)
    state["warmup"].set_result("warm")


async def handle_request():
    try:
        status = await state["warmup"]  # a future of the boot loop
    except RuntimeError as e:
        status = "warm-up failed (%s)" % type(e).__name__
    return status


boot_thread = threading.Thread(target=lambda: asyncio.run(boot()), name="boot")
boot_thread.start()
ready.wait(10)
result = []
server = threading.Thread(target=lambda: result.append(asyncio.run(handle_request())), name="server")
server.start()
server.join(10)
boot_thread.join(10)
print("request:", result[0])
