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


def test_a_samplers_fill_of_a_ranks_rows_is_its_rows_of_one_process_fill():
    """`fill_rows` runs a sampler's own fill (the Gibbs samplers' uniform draws from raw bits) on the global
    batch's rows: an odd shard of an odd batch gets one process's numbers, and the generator its state."""
    from nngraph.compile.gibbs import uniform

    total, width = 7, 3
    one = np.random.default_rng(5)
    whole = uniform(one, np.empty((total, width), np.float32))
    for rank in range(2):
        shard = Ranks(rank, 2).shard(total)
        rng = np.random.default_rng(5)
        part = uniform(ShardedGenerator(rng, shard), np.empty((shard.rows, width), np.float32))
        np.testing.assert_array_equal(part, whole[shard.start:shard.stop])
        assert rng.bit_generator.state == one.bit_generator.state


def test_integer_draws_of_a_ranks_rows_are_its_rows_of_one_process_draw():
    one = np.random.default_rng(2).integers(0, 9, 10)
    part = ShardedGenerator(np.random.default_rng(2), Shard(6, 10, 10)).rows("integers", (4,), low=0, high=9)
    np.testing.assert_array_equal(part, one[6:])


@pytest.mark.parametrize("total", [10, 70, 131])
def test_the_measured_rows_of_a_batch_are_one_process_measured_rows_whatever_the_shards(total):
    """An RBM measures its metrics on every s-th row of a large batch: the ranks' measured rows, in order, are
    one process's, and their shares of the measured rows cover them once."""
    from nngraph.train.rbm import measured_rows

    picked, share = measured_rows(Shard(0, total, total))
    everyone = np.arange(total)[picked]
    for size in (2, 3):
        rows, starts = [], []
        for rank in range(size):
            shard = Ranks(rank, size).shard(total)
            mine, measured = measured_rows(shard)
            rows += (np.arange(shard.start, shard.stop)[mine]).tolist()
            assert measured.rows == len(np.arange(shard.rows)[mine]) and measured.total == len(everyone)
            starts.append(measured.start)
        assert rows == everyone.tolist()
        assert starts == sorted(starts) and starts[0] == 0
