"""A pre-fork master stops its worker with SIGTERM right after the worker
recorded its last job (tests/integration/test_worker_processes.py,
term-flush). The worker keeps SIGTERM's default action, as a
multiprocessing worker ended by Pool.terminate() does, so it dies of the
signal; its last job (a thread named "last-job", started and joined) was
recorded microseconds before and must still reach its trace.
"""
import os
import signal
import sys
import threading
import time


def worker(ready_fd):
    print("worker: SIGTERM handler %s" % signal.getsignal(signal.SIGTERM), flush=True)
    job = threading.Thread(target=lambda: None, name="last-job")
    job.start()
    job.join()
    os.write(ready_fd, b"x")
    time.sleep(60)  # never reached the end of: the master stops it
    os._exit(0)


def main():
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        worker(write_fd)
    os.close(write_fd)
    os.read(read_fd, 1)
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    print("master: worker ended by %s" % (signal.Signals(os.WTERMSIG(status)).name
                                          if os.WIFSIGNALED(status) else "exit %d" % os.WEXITSTATUS(status)))
    sys.exit(0)


if __name__ == "__main__":
    main()
