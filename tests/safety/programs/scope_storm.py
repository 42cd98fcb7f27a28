"""Opens and closes many named scopes (waitgraph's public API: one
SCOPE_BEGIN with a new interned name, one SCOPE_END each) while the trace
writer is told to wait (WAITGRAPH_FLUSH_MS is huge): everything is still
buffered at exit, a backlog far larger than one trace frame may hold."""
import sys

import waitgraph

count = int(sys.argv[1])
for i in range(count):
    waitgraph.end_scope(waitgraph.begin_scope("tests/test_backlog_module.py::test_case[%08d]" % i))
print("scopes", count, "recording", waitgraph.is_running())
