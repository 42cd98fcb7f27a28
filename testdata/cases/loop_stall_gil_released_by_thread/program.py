"""The negative twin of loop_stall_gil_held_by_thread: the background
thread's C library call lets go of the GIL (ctypes.CDLL, as well-behaved
extensions do around long work), so the handler renders its page in a few
milliseconds while the C call runs. The loop never stalls: loop-stall
stays silent."""
import asyncio
import ctypes
import threading

libc = ctypes.CDLL(None)  # CDLL: calls let go of the GIL
backlog_ready = threading.Event()


def compress_backlog():
    backlog_ready.wait()
    libc.usleep(400_000)  # 0.4 s in C, the GIL released


def render(rows):
    page = []
    for i in range(rows):
        page.append("<tr><td>%d</td><td>%s</td></tr>" % (i, str(i * i).rjust(12)))
    return "".join(page)


async def handle(request):
    backlog_ready.set()  # the background job starts its C call
    return len(render(20_000))


async def main():
    print("rendered", await handle("/report") > 0)


compressor = threading.Thread(target=compress_backlog, name="compressor")
compressor.start()
asyncio.run(main())
compressor.join()
