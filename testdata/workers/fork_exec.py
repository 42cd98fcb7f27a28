"""os.fork() then os.execv of Python, from Python code (tests/integration/
test_worker_processes.py, fork-exec).

  python3 fork_exec.py           the parent forks two children: one execs
                                 this program as `child` at once (its
                                 forked image records nothing before the
                                 exec), the other does some threaded work
                                 first (a pool job), then execs it too
  python3 fork_exec.py child N   the exec'd program: a pool job, and a
                                 line saying it ran

Each exec goes through os.execvp with a first PATH entry that has no
python3, so one exec attempt fails before the one that works. Then a
subprocess with a preexec_fn (CPython runs the fork handlers in that
child, which execs /bin/true from C): no trace of its own.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def pool_job(what):
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=what) as pool:
        return pool.submit(sum, [1, 2, 3]).result()


def exec_child(n):
    python_dir = os.path.dirname(sys.executable)
    env_path = os.pathsep.join(["/nonexistent-waitgraph-dir", python_dir])
    os.environ["PATH"] = env_path
    os.execvp(os.path.basename(sys.executable), [sys.executable, os.path.abspath(__file__), "child", str(n)])


def main():
    if sys.argv[1:2] == ["child"]:
        print("child %s: pool says %d" % (sys.argv[2], pool_job("exec'd")), flush=True)
        return
    pids = []
    for n, work_first in ((1, False), (2, True)):
        pid = os.fork()
        if pid == 0:
            try:
                if work_first:
                    pool_job("before-exec")
                exec_child(n)
            finally:
                os._exit(127)
        pids.append(pid)
        os.waitpid(pid, 0)  # one at a time: the output's order is fixed
    subprocess.run(["/bin/true"], preexec_fn=os.getpid, check=True)
    print("parent: %d children exec'd and done" % len(pids), flush=True)


if __name__ == "__main__":
    main()
