"""A subprocess started on a uvloop loop (tests/integration/
test_worker_processes.py, uvloop-subprocess): libuv forks from C, uvloop
runs Python's fork handlers in the child (PyOS_AfterFork_Child), and the
child execs Python from C at once. Prints the child's line, then its own."""
import asyncio
import sys

import uvloop


async def main():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "print('child ran')", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    print(out.decode().strip(), flush=True)
    print("parent: child exited with %d" % proc.returncode, flush=True)


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main())
