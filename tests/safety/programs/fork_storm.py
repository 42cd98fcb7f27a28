"""Forks many children in quick succession while a thread pool and a
lock-holding thread keep the recorder busy (so forks land in the middle of
everything); each child does a little pool work and exits, half by
sys.exit, half by os._exit. Prints what the children reported."""
import concurrent.futures as cf
import os
import sys
import threading

children = int(sys.argv[1])
stop = threading.Event()
lock = threading.Lock()


def busy():
    while not stop.is_set():
        with lock:
            pass
        stop.wait(0.001)


with cf.ThreadPoolExecutor(2) as pool:
    spinner = threading.Thread(target=busy)
    spinner.start()
    pids = []
    for i in range(children):
        pool.submit(pow, 2, i).result()
        pid = os.fork()
        if pid == 0:
            with cf.ThreadPoolExecutor(1) as child_pool:
                code = child_pool.submit(lambda n: n % 7, i).result()
            if i % 2:
                sys.exit(code)
            os._exit(code)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    stop.set()
    spinner.join()
print("children:", len(codes), "exit codes sum:", sum(codes))
