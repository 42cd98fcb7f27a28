"""A background thread compresses a backlog through a C library that keeps
the GIL for the whole call (ctypes.PyDLL, as a C extension that never
releases the GIL would). The handler only renders a page: pure Python,
a few milliseconds. But once it wakes the background job, the loop's
thread cannot run again until the C call returns: the loop stands still
in the handler while another thread holds the GIL. loop-stall must say
the loop waited for the GIL held by that thread (a note), not that the
handler was running Python code."""
import asyncio
import ctypes
import threading

libc = ctypes.PyDLL(None)  # PyDLL: calls keep the GIL
backlog_ready = threading.Event()
compressing = threading.Event()


def compress_backlog():
    backlog_ready.wait()
    compressing.set()
    libc.usleep(400_000)  # 0.4 s in C with the GIL held


def render(rows):
    page = []
    for i in range(rows):
        page.append("<tr><td>%d</td><td>%s</td></tr>" % (i, str(i * i).rjust(12)))
    return "".join(page)


async def handle(request):
    backlog_ready.set()  # the background job starts its C call
    # Pages keep coming until the job has started (on a loaded machine the
    # job's thread may get the GIL only after several switch intervals):
    # the C call then begins while render() runs, whatever the schedule.
    pages = [render(20_000)]
    while not compressing.is_set():
        pages.append(render(20_000))
    return sum(map(len, pages))


async def main():
    print("rendered", await handle("/report") > 0)


compressor = threading.Thread(target=compress_backlog, name="compressor")
compressor.start()
asyncio.run(main())
compressor.join()
