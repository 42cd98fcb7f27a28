"""Makes many short-lived functions (as templates, exec and lambdas do),
each recorded in a stack by the shim (a scope records its caller's stack),
drops them, and prints how many of their code objects are still alive and
the peak resident memory."""
import gc
import resource
import sys
import weakref

import waitgraph

count = int(sys.argv[1])
alive = []
for i in range(count):
    namespace = {"waitgraph": waitgraph}
    source = "def view_%d():\n    waitgraph.end_scope(waitgraph.begin_scope('render'))\n" % i
    exec(compile(source, "<template %d>" % i, "exec"), namespace)
    fn = namespace["view_%d" % i]
    fn()
    alive.append(weakref.ref(fn.__code__))
    del fn, namespace
gc.collect()
print("code objects still alive:", sum(1 for r in alive if r() is not None), "of", count)
print("peak rss MB:", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)
