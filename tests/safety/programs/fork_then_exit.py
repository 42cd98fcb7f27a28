"""Forks, and the child exits the normal way (sys.exit or falling off the
end), which runs atexit handlers and static destructors. Modes:

  plain     nothing else running
  threads   the parent has threads blocked in waits and the child starts one
  loop      the fork happens inside an asyncio callback (a stall-watchdog slot
            in use), while the watchdog thread is waiting
  falloff   the child returns from main instead of calling sys.exit
"""
import asyncio
import concurrent.futures as cf
import os
import sys
import threading

MODE = sys.argv[1] if len(sys.argv) > 1 else "plain"


def child_work():
    if MODE == "threads":
        with cf.ThreadPoolExecutor(2) as ex:
            assert ex.submit(pow, 2, 5).result() == 32
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()


def fork_and_wait():
    pid = os.fork()
    if pid == 0:
        child_work()
        if MODE == "falloff":
            return "child"
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    return "child exit status %d" % os.waitstatus_to_exitcode(status)


def main():
    stop = threading.Event()
    if MODE == "threads":
        blocked = [threading.Thread(target=stop.wait) for _ in range(3)]
        for t in blocked:
            t.start()
        pool = cf.ThreadPoolExecutor(2)
        pool.submit(stop.wait)
    if MODE == "loop":
        async def in_callback():
            return fork_and_wait()
        result = asyncio.run(in_callback())
    else:
        result = fork_and_wait()
    if result == "child":
        return  # the forked child falls off the end
    print(result)
    stop.set()
    if MODE == "threads":
        pool.shutdown()
    print("parent done")


main()
