"""Under MPI each rank evaluates its share of a split and the means are reduced: the figures are one process's
(the records and summaries of tests/parallel/test_same_results.py), and no rank evaluates the whole split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.parallel.helpers import REPO, mpiexec
from tests.parallel.test_same_results import GAN, MLP

SHARES = """\
import json, sys
import nngraph
from nngraph.session import prepare
from nngraph.train.loop import evaluate
from nngraph.train.parallel import world

session = prepare(nngraph.loads(sys.argv[1]))
method, split = session.method, session.splits.validation
seen = []
means = method.evaluation_means
method.evaluation_means = lambda data: seen.append(len(data)) or means(data)
metrics = evaluate(method, split)
method.evaluation_means = means
shares = world().comm.gather(seen, root=0)
if world().rank == 0:
    print(json.dumps({"rows": len(split), "shares": shares, "split": metrics, "whole": method.evaluate(split)}))
"""

# the discriminator judges 3 points at a time: 21 packs of the 64 validation points, one point left over
PACKED_GAN = GAN.replace("k=1", "k=1, pack=3").replace("input  p[2]", "input  p[6]")


@pytest.mark.parametrize("spec, unit", [(MLP, 1), (PACKED_GAN, 3)], ids=["mlp", "gan-pack3"])
def test_each_rank_evaluates_its_share_and_the_metrics_are_the_whole_splits(spec, unit):
    done = subprocess.run([str(mpiexec()), "-n", "2", sys.executable, "-c", SHARES, spec], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    units = result["rows"] // unit
    assert result["shares"] == [[(units + 1) // 2 * unit], [units // 2 * unit]]  # whole packs, a remainder dropped
    assert result["split"].keys() == result["whole"].keys()
    for key, value in result["whole"].items():
        assert result["split"][key] == pytest.approx(value, rel=1e-6, abs=1e-7), key


DIFFERENT_NAMES = """\
import numpy as np
from nngraph.data.dataset import unsupervised
from nngraph.train.loop import evaluate
from nngraph.train.method import Method
from nngraph.train.parallel import abort_on_error, world


class Shares(Method):
    def evaluation_means(self, data):  # a metric that only some shares have
        return {"loss": 1.0, **({"mse": 0.5} if world().rank == 0 else {})}


with abort_on_error():
    evaluate(Shares(None, np), unsupervised(np.zeros((4, 2), np.float32), "zeros"))
"""


def test_shares_of_an_evaluation_that_give_different_metrics_stop_the_job_with_a_clear_error():
    done = subprocess.run([str(mpiexec()), "-n", "2", sys.executable, "-c", DIFFERENT_NAMES], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 1
    assert "error: the ranks' shares of an evaluation gave different metrics" in done.stderr
