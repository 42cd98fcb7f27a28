"""A bounded buffer with threading.Condition: producers wait while it is
full, consumers while it is empty; Condition.wait releases the lock and
takes it back. Correct: nothing to report."""
import threading

CAPACITY, ITEMS, PRODUCERS = 4, 300, 3

buffer = []
lock = threading.Lock()
not_full = threading.Condition(lock)
not_empty = threading.Condition(lock)
consumed = []


def produce(base):
    for i in range(ITEMS):
        with not_full:
            while len(buffer) >= CAPACITY:
                not_full.wait()
            buffer.append(base + i)
            not_empty.notify()


def consume(count):
    for _ in range(count):
        with not_empty:
            while not buffer:
                not_empty.wait()
            consumed.append(buffer.pop(0))
            not_full.notify()


rlock_cond = threading.Condition()  # its own RLock
with rlock_cond:
    assert not rlock_cond.wait(timeout=0.01)  # times out, lock taken back

producers = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(PRODUCERS)]
consumer = threading.Thread(target=consume, args=(ITEMS * PRODUCERS,))
for t in producers + [consumer]:
    t.start()
for t in producers + [consumer]:
    t.join()
print("consumed", len(consumed), "items")
