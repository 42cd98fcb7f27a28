"""A correct lock-heavy program: 8 threads move money between 4 accounts
thousands of times, always locking the lower-numbered account first (one
global order), with a stats lock taken innermost and a reentrant audit
lock outermost. Contended, never inverted: nothing to report."""
import threading
import time

N_ACCOUNTS, N_THREADS, N_MOVES = 4, 8, 2000

audit_lock = threading.RLock()
stats_lock = threading.Lock()
locks = [threading.Lock() for _ in range(N_ACCOUNTS)]
balances = [1000] * N_ACCOUNTS
stats = {"moves": 0}


def count_move():
    with stats_lock:
        stats["moves"] += 1


def move(src, dst, amount, linger=False):
    first, second = sorted((src, dst))
    with locks[first]:
        with locks[second]:
            balances[src] -= amount
            balances[dst] += amount
            count_move()
            if linger:
                time.sleep(0.001)  # let the other threads queue on these locks


def worker(seed):
    for i in range(N_MOVES):
        src = (seed + i) % N_ACCOUNTS
        dst = (seed + 3 * i + 1) % N_ACCOUNTS
        if src != dst:
            move(src, dst, 1, linger=i % 200 == 0)
        if i % 500 == 0:
            with audit_lock:
                with audit_lock:  # reentrant
                    with locks[0]:
                        assert sum(balances) >= 0


threads = [threading.Thread(target=worker, args=(s,)) for s in range(N_THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("total", sum(balances), "moves", stats["moves"])
