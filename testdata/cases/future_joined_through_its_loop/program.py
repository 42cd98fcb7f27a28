"""Negative twin of future_awaited_on_other_loop: the request joins the boot
loop's warm-up future through the boot loop (run_coroutine_threadsafe of a
coroutine that awaits it there, wrapped for the server loop). Nothing
crosses: waitgraph must stay silent."""
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


async def join_warmup():  # runs on the boot loop
    return await state["warmup"]


async def handle_request():
    try:
        status = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(join_warmup(), state["loop"]))
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
