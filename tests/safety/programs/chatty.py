"""Records a lot (thread-pool round trips, each with stacks), enough to fill
a pipe buffer many times over, then exits."""
import concurrent.futures as cf
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
with cf.ThreadPoolExecutor(2) as pool:
    total = 0
    for i in range(rounds):
        total += pool.submit(pow, 2, i % 16).result()
print("done", total)
