"""train/parallel.py in one process: shards, the sharded random draws, and a world of one."""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.errors import TrainingError
from nngraph.train.parallel import Shard, ShardedGenerator, World, world


class Ranks(World):
    """A world of `size` ranks seen from `rank`, without MPI (only what needs no collective)."""

    def __init__(self, rank: int, size: int):
        super().__init__()
        self.rank, self.size = rank, size


@pytest.mark.parametrize("total", [16, 10, 9, 3])
def test_shards_cover_a_batch_once_in_order_sizes_within_one(total):
    shards = [Ranks(r, 3).shard(total) for r in range(3)]
    assert [s.start for s in shards] == [0, shards[0].stop, shards[1].stop]
    assert shards[-1].stop == total
    assert max(s.rows for s in shards) - min(s.rows for s in shards) <= 1
    assert sum(s.weight for s in shards) == pytest.approx(1.0)


def test_a_batch_smaller_than_the_world_is_refused():
    with pytest.raises(TrainingError, match="minibatch of 2 examples cannot be split across 3"):
        Ranks(0, 3).shard(2)


@pytest.mark.parametrize("blocks", [1, 5])
def test_sharded_draws_are_the_rows_of_one_process_draw(blocks):
    """Each rank's draw is its rows of the global draw, block by block (a recurrent plan's time-major steps),
    and the generator ends in the state one process leaves it in."""
    total, width = 7, 3
    one = np.random.default_rng(4)
    whole = one.random((blocks * total, width), dtype=np.float32).reshape(blocks, total, width)
    for rank in range(2):
        shard = Ranks(rank, 2).shard(total)
        rng = np.random.default_rng(4)
        part = ShardedGenerator(rng, shard).rows("random", (blocks * shard.rows, width), blocks, dtype=np.float32)
        np.testing.assert_array_equal(part.reshape(blocks, shard.rows, width), whole[:, shard.start:shard.stop])
        assert rng.bit_generator.state == one.bit_generator.state


def test_a_draw_that_is_not_this_ranks_rows_is_refused():
    with pytest.raises(TrainingError, match="draw of 5 rows for a shard of 4 examples"):
        ShardedGenerator(np.random.default_rng(0), Shard(0, 4, 8)).rows("random", (5, 2))


def test_other_draws_go_to_the_generator_as_they_are():
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    assert ShardedGenerator(a, Shard(0, 4, 8)).integers(100, size=3).tolist() == b.integers(100, size=3).tolist()


def test_a_single_process_is_a_world_of_one_whose_collectives_change_nothing():
    single = world()
    assert (single.rank, single.size, single.parallel, single.writes) == (0, 1, False, True)
    grads = {"w": np.ones((2, 2), np.float32)}
    single.allreduce_mean(grads)
    np.testing.assert_array_equal(grads["w"], 1)
    assert single.reduce_metrics({"loss": 0.5}, 3) == {"loss": 0.5}
    assert single.same_everywhere("x") == "x"
