"""Benchmark workload: threading locks as services take them.

Phases, each timed on its own and printed to stderr (ns per acquire+release
for the uncontended ones; the harness times the whole run, and
bench/RESULTS.md quotes these per-call figures for the lock hooks):
  lock_uncontended    `with lock:` around a dict update, one thread
  rlock_uncontended   the same with an RLock taken twice (reentrant)
  nested              `with outer: with inner:` (the lock-order check)
  condition           Condition producer/consumer hand-offs
  contended           8 threads sharing 4 account locks taken in one order,
                      some holding a lock while they sleep (real queueing)

usage: lock_heavy.py [SCALE]   (SCALE 1.0 takes ~1-2 s uninstrumented)
"""
import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
UNCONTENDED = max(1, int(600_000 * SCALE))
HANDOFFS = max(1, int(20_000 * SCALE))
MOVES = max(1, int(40_000 * SCALE))


def timed(name, n, fn):
    start = time.perf_counter()
    fn(n)
    ns = (time.perf_counter() - start) * 1e9 / n
    print("%-18s %8.1f ns per iteration" % (name, ns), file=sys.stderr)


counts = {}


def lock_uncontended(n):
    lock = threading.Lock()
    for i in range(n):
        with lock:
            counts["a"] = i


def rlock_uncontended(n):
    lock = threading.RLock()
    for i in range(n):
        with lock:
            with lock:
                counts["b"] = i


def nested(n):
    outer, inner = threading.Lock(), threading.Lock()
    for i in range(n):
        with outer:
            with inner:
                counts["c"] = i


def condition(n):
    cond = threading.Condition()
    box = []

    def consumer():
        for _ in range(n):
            with cond:
                while not box:
                    cond.wait()
                box.pop()
                cond.notify()

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(n):
        with cond:
            while box:
                cond.wait()
            box.append(i)
            cond.notify()
    t.join()


def contended(n):
    locks = [threading.Lock() for _ in range(4)]
    balances = [0] * 4

    def worker(seed):
        for i in range(n // 8):
            a, b = sorted(((seed + i) % 4, (seed + 2 * i + 1) % 4))
            if a == b:
                continue
            with locks[a]:
                with locks[b]:
                    balances[a] -= 1
                    balances[b] += 1
                    if i % 1000 == 0:
                        time.sleep(0.0005)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["total"] = sum(balances)


timed("lock_uncontended", UNCONTENDED, lock_uncontended)
timed("rlock_uncontended", UNCONTENDED, rlock_uncontended)
timed("nested", UNCONTENDED, nested)
timed("condition", HANDOFFS, condition)
timed("contended", MOVES, contended)
print("locks done", counts["total"])
