"""anyio's pytest plugin (anyio 3.6) runs an async-generator fixture on its
test runner's loop: run_until_complete up to the fixture's yield, the test,
then Event.set() on the same thread, outside the loop, to let the fixture
finish in the next run_until_complete. The real plugin, through pytest.main,
on a test written to a temporary directory."""
import contextlib
import io
import os
import shutil
import tempfile

import pytest

TEST_MODULE = '''
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def resource():
    yield "ready"


@pytest.mark.anyio
async def test_uses_resource(resource):
    assert resource == "ready"
'''

workdir = tempfile.mkdtemp(prefix="wg-anyio-plugin-")
try:
    with open(os.path.join(workdir, "test_fixture.py"), "w") as f:
        f.write(TEST_MODULE)
    # pytest's own report has timings: keep it out of the program's output.
    with contextlib.redirect_stdout(io.StringIO()):
        status = pytest.main(["-q", "-p", "no:cacheprovider", "-p", "anyio", workdir])
    print("pytest exit", int(status))
finally:
    shutil.rmtree(workdir, ignore_errors=True)
