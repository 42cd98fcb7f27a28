"""Thread churn: waves of short-lived threads that take locks, wait on
events and futures and end, while the main thread keeps starting more.
Prints a checksum of what they did."""
import concurrent.futures as cf
import sys
import threading

waves, per_wave = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
total = [0]


def worker(i, ready, pool):
    ready.wait()
    value = pool.submit(pow, i, 2).result()
    with lock:
        total[0] += value


with cf.ThreadPoolExecutor(4) as pool:
    for wave in range(waves):
        ready = threading.Event()
        threads = [threading.Thread(target=worker, args=(wave * per_wave + i, ready, pool))
                   for i in range(per_wave)]
        for t in threads:
            t.start()
        ready.set()
        for t in threads:
            t.join()
print("threads:", waves * per_wave, "total:", total[0])
