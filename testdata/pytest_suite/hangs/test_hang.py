import threading
from concurrent.futures import ThreadPoolExecutor


def test_quick():
    assert 1 + 1 == 2


def test_report_jobs_wait_on_their_own_pool():
    pool = ThreadPoolExecutor(max_workers=2)
    both_running = threading.Barrier(2)  # both reports hold a worker first

    def part(n):
        return n * 2

    def report(n):
        both_running.wait()
        return pool.submit(part, n).result()  # queued behind both reports

    futures = [pool.submit(report, n) for n in range(2)]
    assert [f.result() for f in futures] == [0, 2]
