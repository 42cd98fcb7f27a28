"""Starts and joins many short-lived threads, each with a name never used
before (as a server that names a thread per connection does), and prints
how much the resident memory grew between a warm-up and the end, in MB.
Under the shim, what is still buffered for the trace is written out before
each measurement: what counts is what the shim keeps, not its backlog."""
import sys
import threading

try:
    from waitgraph import flush
except ImportError:  # without the shim
    def flush():
        return False


def rss_kb():
    flush()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def churn(first, count, name_bytes):
    pad = "x" * name_bytes
    for i in range(first, first + count):
        t = threading.Thread(target=len, args=("",), name="conn-%d-%s" % (i, pad))
        t.start()
        t.join()


count, name_bytes = int(sys.argv[1]), int(sys.argv[2])
warm = count // 8
churn(0, warm, name_bytes)
before = rss_kb()
churn(warm, count - warm, name_bytes)
print("rss growth MB: %d" % ((rss_kb() - before) // 1024))
