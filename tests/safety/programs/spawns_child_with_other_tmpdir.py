"""A traced parent that starts a child Python with another TMPDIR (and the
same inherited WAITGRAPH_TRACE) while it is itself still recording, then
finishes its own work: the child must not touch the parent's trace."""
import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import tempfile

other_tmp = tempfile.mkdtemp(prefix="wg-child-tmp-")
env = dict(os.environ, TMPDIR=other_tmp)
child = "import concurrent.futures as cf\nwith cf.ThreadPoolExecutor(1) as p: print('child', p.submit(pow, 3, 2).result())"
subprocess.run([sys.executable, "-c", child], env=env, check=True)
with cf.ThreadPoolExecutor(2) as pool:
    print("parent", sum(pool.submit(pow, 2, i).result() for i in range(8)))
shutil.rmtree(other_tmp)
