"""Semaphore, BoundedSemaphore and Barrier used correctly: a semaphore caps
concurrent downloads (threads queue on it), a bounded semaphore guards a
pool of 2 connections, a barrier lines up the phases of 4 workers."""
import threading
import time

downloads = threading.Semaphore(2)
connections = threading.BoundedSemaphore(2)
phase = threading.Barrier(4)
done = []
done_lock = threading.Lock()


def worker(n):
    with downloads:
        time.sleep(0.02)
    connections.acquire()
    try:
        time.sleep(0.02)
    finally:
        connections.release()
    phase.wait()
    with done_lock:
        done.append(n)
    phase.wait()


# The main thread holds every token at first, so the workers queue on both
# semaphores until it lets go.
for _ in range(2):
    downloads.acquire()
    connections.acquire()
threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
time.sleep(0.2)
downloads.release(2)
time.sleep(0.1)
connections.release()
connections.release()
for t in threads:
    t.join()
try:
    connections.release()
except ValueError:
    print("bounded semaphore refused an extra release")
print("done", sorted(done))
