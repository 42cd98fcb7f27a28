"""The fixed twin of lock_order_latent_inversion: both paths take the cache
lock first, then the database lock. One order: nothing to report."""
import threading

cache_lock = threading.Lock()
db_lock = threading.Lock()
cache, rows = {}, {}


def refresh_cache(key):
    with cache_lock:
        with db_lock:
            cache[key] = rows.get(key, 0)


def write_row(key, value):
    with cache_lock:
        with db_lock:
            rows[key] = value
            cache.pop(key, None)


t = threading.Thread(target=refresh_cache, args=("a",), name="refresher")
t.start()
t.join()
t = threading.Thread(target=write_row, args=("a", 1), name="writer")
t.start()
t.join()
print("rows", rows)
