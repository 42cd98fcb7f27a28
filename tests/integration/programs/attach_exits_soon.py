"""Runs a few threads for a moment, then exits: `waitgraph attach` must say
the process went away while it was being read, and not crash or hang."""
import sys
import threading
import time

for i in range(8):
    threading.Thread(target=time.sleep, args=(0.4,), name="short-%d" % i).start()
print("started", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.6)
