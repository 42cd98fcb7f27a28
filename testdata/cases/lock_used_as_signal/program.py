"""A threading.Lock used as a one-shot signal, as older code does: the main
thread takes it, starts a worker, and takes it again, blocking until the
worker (not the holder) releases it, 3 s later (longer than --hang-timeout).
Not a self-deadlock: nothing to report, and the program is not stopped."""
import threading
import time

done = threading.Lock()
results = []


def job():
    time.sleep(3)
    results.append("report")
    done.release()  # released by another thread than the one that took it


done.acquire()
threading.Thread(target=job, name="job").start()
done.acquire()  # blocks until the job releases it
print("got", results)
done.release()

# The same lock again, as a signal a second time.
threading.Thread(target=lambda: (time.sleep(0.1), done.release()), name="again").start()
done.acquire()
done.acquire()
print("signalled twice")

# A Semaphore used the same way: its only token is taken, and released by
# another thread 2.5 s later (again longer than --hang-timeout).
ready = threading.Semaphore(1)
ready.acquire()
threading.Thread(target=lambda: (time.sleep(2.5), ready.release()), name="ready").start()
ready.acquire()
print("semaphore signalled")
