"""A small program with output on both streams and a non-zero exit code,
for the unwritable-trace-path test."""
import concurrent.futures as cf
import sys

with cf.ThreadPoolExecutor(2) as ex:
    print("result", ex.submit(sum, [1, 2, 3]).result())
print("to stderr", file=sys.stderr)
sys.exit(3)
