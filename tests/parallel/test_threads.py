"""Each rank gets its share of the machine's free cores by default: ranks on one machine do not each start a
thread per core."""

from __future__ import annotations

import subprocess
import sys

from tests.parallel.helpers import REPO, mpiexec

SHARE = """\
import nngraph.backend.threads as threads
threads.free_cores = lambda: 6
from nngraph.session import _default_threads
from nngraph.train.parallel import world
shares = world().comm.gather((world().local_size(), _default_threads()), root=0)
if world().rank == 0:
    print(shares)
"""


def test_ranks_on_one_machine_share_its_free_cores():
    done = subprocess.run([str(mpiexec()), "-n", "2", sys.executable, "-c", SHARE], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(2, 3), (2, 3)]"  # (ranks on this machine, threads), rank by rank
