"""A two-level pipeline done right: outer jobs on one pool, inner on another.

Report jobs run on the `reports` pool and wait for their row fetches, which
run on a separate `fetchers` pool; fetchers never wait on anything. Both
pools saturate for a moment, the nesting always goes one way, and every job
finishes.
"""
import time
from concurrent.futures import ThreadPoolExecutor

reports = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reports")
fetchers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetchers")


def fetch_rows(report_id):
    time.sleep(0.01)  # query the warehouse
    return [report_id] * 3


def build_report(report_id):
    time.sleep(0.02)  # render the header
    rows = fetchers.submit(fetch_rows, report_id).result()
    return "report %d: %d rows" % (report_id, len(rows))


def main():
    jobs = [reports.submit(build_report, report_id) for report_id in range(1, 5)]
    for job in jobs:
        print(job.result(), flush=True)
    reports.shutdown()
    fetchers.shutdown()


if __name__ == "__main__":
    main()
