"""A small program that waits on a thread pool (so its trace has events) and
prints what it was given, to show its output is unchanged."""
import concurrent.futures as cf
import sys

with cf.ThreadPoolExecutor(2) as pool:
    total = sum(pool.submit(pow, 2, i).result() for i in range(10))
print("total", total, "args", len(sys.argv) - 1)
