"""Benchmark workload: asyncio_callback_storm on uvloop (uvloop.install()),
where the shim cannot time callbacks and instead samples the loop thread
(native/loop_thread_sampler.h): a C++ thread reads two words of the loop
thread's state every threshold/10. No stalls, so what is measured is what
the sampler and the other hooks that still apply on uvloop (create_task's
context copy, ContextVar use) cost a busy loop.

usage: uvloop_callback_storm.py [SCALE]   (SCALE 1.0 takes ~1 s uninstrumented)
"""
import os
import runpy

import uvloop

uvloop.install()
# The same workload, run as the main module (it reads SCALE from sys.argv).
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "asyncio_callback_storm.py"),
               run_name="__main__")
