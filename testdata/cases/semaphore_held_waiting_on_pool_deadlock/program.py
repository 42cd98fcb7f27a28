"""A thread takes the only token of a Semaphore (a connection slot) and,
holding it, waits for a pool job that needs a slot too: the job queues on
the semaphore, the holder on the job, forever."""
import threading
from concurrent.futures import ThreadPoolExecutor

db_slots = threading.BoundedSemaphore(1)
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query")


def run_query(sql):
    with db_slots:
        return len(sql)


def report():
    with db_slots:
        total = pool.submit(run_query, "select 1")
        print("submitted")
        return total.result()


print(report())
