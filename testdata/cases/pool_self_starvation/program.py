"""A report job queue that starves its own thread pool.

Each report job fans out a sub-job (fetching the report's data) to the same
two-worker pool and blocks on its result. Two reports are submitted at once,
so both workers block in Future.result() on sub-jobs that sit in the pool's
queue with no free worker to run them: the pool waits on itself forever.
"""
import time
from concurrent.futures import ThreadPoolExecutor

pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reports")


def fetch_rows(report_id):
    time.sleep(0.01)  # query the warehouse
    return [report_id] * 3


def build_report(report_id):
    time.sleep(0.05)  # render the header
    rows = pool.submit(fetch_rows, report_id).result()  # needs a free worker
    return "report %d: %d rows" % (report_id, len(rows))


def main():
    jobs = [pool.submit(build_report, report_id) for report_id in (1, 2)]
    print("submitted", len(jobs), "reports", flush=True)
    for job in jobs:
        print(job.result(), flush=True)
    pool.shutdown()


if __name__ == "__main__":
    main()
