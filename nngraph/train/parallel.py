"""Data-parallel training over MPI: started under `mpiexec -n N`, each rank trains on its shard of every global
batch and the gradients are averaged across ranks before every update, so all ranks hold the same parameters.

Nothing here needs a flag: `world()` finds MPI when mpi4py imports and COMM_WORLD has more than one rank; in
any other case it is a world of one, whose collectives are the identity, so the loop and the methods run the
same code with and without MPI.

- `World.shard(rows)`: a rank's contiguous part of a global batch's rows, and its weight (its share of the
  rows), since a mean over the global batch is the weighted mean of the shards' means.
- `World.allreduce_mean(grads)`: one Allreduce over the gradients laid end to end in one flat buffer (called
  once per update by `Method.apply_update`).
- `World.allreduce_sum(a)`: per-channel sums over the ranks, which batch normalisation's moments and vjp reduce
  inside a step (`World.step` hands it to the ops through `ops.replicas.across_replicas`): sync batchnorm.
- `World.reduce_metrics(metrics)`: a step's or an evaluation's metrics, weighted means over the shards.
- `World.use_device(backend)`: with `--backend cupy`, each rank computes on the GPU of its rank on its machine;
  `World.sums()`: the one door to sums of arrays over the ranks (`backend.collective.DeviceSums`: host arrays by
  MPI, device arrays by NCCL).
- `World.gather_rows(full, share)`: rows that each rank steps for its share (persistent chains) onto every rank.
- `World.share(total)`: `shard` that may be empty (an agent's minibatch smaller than the world: an idle rank
  steps with weight 0). `World.gather_copies(local, total)`: every rank's contiguous share of `total`
  environment copies (or rows) laid side by side on every rank; `gather_varying(local)`: the same for shares
  whose sizes only the ranks know (episodes ended, evaluation returns).
- `World.writes`: only rank 0 writes the run folder and prints progress.
- `ShardedGenerator`: the loop's generator, seen by a rank; `rows(...)` draws the global batch's random numbers
  (dropout masks, noise) and returns the shard's rows, so every rank draws what one process would;
  `fill_rows(fill, out)` does the same for a sampler's own fill (the Gibbs samplers' uniform draws).
  `other_rows(rng, total)`: the same for rows that are not the examples' (persistent chains).
  `draw(rng, kind, shape)`: a draw of a rank's rows through its view, or a plain draw (an agent's actions).
- `abort_on_error()`: a rank that raises stops the whole job (MPI_Abort) with a message naming the rank,
  instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from nngraph.backend import array_module
from nngraph.backend.collective import DeviceSums, use_local_device
from nngraph.errors import NngraphError, TrainingError
from nngraph.ops.replicas import across_replicas

DISABLE_ENV = "NNGRAPH_MPI"  # "0": ignore MPI even under mpiexec (each rank trains alone)
# methods whose every random draw is on rows of the global batch through a rank's `ShardedGenerator` (`rows` in
# `Program.feeds`, `fill_rows` in the Gibbs samplers), or is the same on every rank (a `dbn` pretrains its layers
# with `cd`/`pcd` through the same loop and step, then fine-tunes with backprop)
DATA_PARALLEL_METHODS = ("backprop", "vae", "gan", "cd", "pcd", "boltzmann", "dbn", "ppo", "a2c", "reinforce", "dqn")
ABORT_GRACE_S = 0.5


@dataclass(frozen=True)
class Shard:
    """A rank's rows [start, stop) of a global batch of `total` rows."""

    start: int
    stop: int
    total: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def weight(self) -> float:
        return self.rows / self.total


class World:
    """The ranks training one model. `comm` is None for a single process."""

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1
        self.shard_now: Shard | None = None  # the shard of the step under way (set by the loop)
        self.shared_gpus = False  # some machine runs more ranks than it has GPUs (`use_device`)
        self._sums: DeviceSums | None = None

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def writes(self) -> bool:
        """Whether this rank writes the run folder and prints: rank 0 only."""
        return self.rank == 0

    def shard(self, total: int) -> Shard:
        """This rank's contiguous rows of `total`: sizes differ by at most one (the last, shorter batch of an
        epoch need not divide evenly); a batch smaller than the world leaves a rank nothing, which is refused."""
        if total < self.size:
            raise TrainingError(f"a minibatch of {total} examples cannot be split across {self.size} MPI ranks",
                                hint="use fewer ranks, or a training split whose last minibatch is at least "
                                     "as large as the number of ranks")
        return self._shard_of(self.rank, total)

    def share(self, total: int) -> Shard:
        """This rank's contiguous rows of `total`, which may be none where `total` is smaller than the world."""
        return self._shard_of(self.rank, total)

    def _shard_of(self, rank: int, total: int) -> Shard:
        base, extra = divmod(total, self.size)
        start = rank * base + min(rank, extra)
        return Shard(start, start + base + (rank < extra), total)

    @contextlib.contextmanager
    def step(self, shard: Shard):
        """The step of `shard` is under way: `allreduce_mean` weighs this rank's gradients by its share, and
        ops that reduce over the batch (batch normalisation's moments) reduce over the global batch
        (`allreduce_sum`, handed to them through `ops.replicas`)."""
        self.shard_now = shard
        try:
            with across_replicas(self.allreduce_sum):
                yield
        finally:
            self.shard_now = None

    def allreduce_mean(self, grads: dict, xp=np, share: float | None = None) -> None:
        """Every rank's gradients (in place) become the global batch's: the sum over ranks of each rank's
        gradients times its share of the rows (`share` where the loss is a mean over other rows than the
        examples: a BPTT window's valid steps). One all-reduce over one flat buffer, where the gradients are
        (on a GPU: NCCL, `backend.collective`)."""
        if not self.parallel or not grads:
            return
        weight = share if share is not None else self.shard_now.weight if self.shard_now is not None else \
            1.0 / self.size
        names = list(grads)
        dtype = np.result_type(*(grads[n].dtype for n in names))
        flat = xp.concatenate([grads[n].ravel() for n in names]).astype(dtype, copy=False)
        flat *= flat.dtype.type(weight)
        self.sums().sum_in_place(flat)
        start = 0
        for name in names:
            size = grads[name].size
            grads[name][...] = flat[start:start + size].reshape(grads[name].shape)
            start += size

    def allreduce_sum(self, a):
        """`a` (a small array: per-channel sums) summed over the ranks, a new array where `a` is."""
        total = array_module(a).array(a, copy=True, order="C")
        self.sums().sum_in_place(total)
        return total

    def sums(self) -> DeviceSums:
        """The door to sums of arrays over the ranks (`backend.collective.DeviceSums`), made once."""
        if self._sums is None:
            self._sums = DeviceSums(self.comm, self._host_sum, nccl=not self.shared_gpus)
        return self._sums

    def _host_sum(self, a: np.ndarray) -> None:
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)

    def use_device(self, backend: str) -> None:
        """Under MPI with the cupy backend, before any array is made: this rank computes on the GPU of its rank
        on this machine (modulo the GPUs it sees). Where a machine has more ranks than GPUs, no rank sums by
        NCCL (it refuses two ranks on one GPU): device arrays are summed through host memory."""
        if not self.parallel or backend != "cupy":
            return
        local_rank, local_size = self.local_rank_and_size()
        _, shared = use_local_device(local_rank, local_size)
        self.shared_gpus = any(self.comm.allgather(shared))

    def reduce_metrics(self, metrics: dict[str, float], rows: int, check_names: bool = False) -> dict[str, float]:
        """Metrics that are means over this rank's `rows` -> means over all ranks' rows (the same on every
        rank). The keys must be the same on every rank (the same method made them); `check_names` makes sure
        first (one more collective: for an evaluation, whose metrics may depend on a share's values, such as
        whether its targets are all 0s and 1s)."""
        if not self.parallel:
            return metrics
        from mpi4py import MPI

        names = list(metrics)  # the same order on every rank: the same method made them
        if check_names and any(other != names for other in self.comm.allgather(names)):
            raise TrainingError("the ranks' shares of an evaluation gave different metrics",
                                hint="run it in one process (without mpiexec)")
        sums = np.array([metrics[n] * rows for n in names] + [rows], dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return {n: float(sums[i] / sums[-1]) for i, n in enumerate(names)}

    def gather_rows(self, full, share: Shard, xp=np) -> None:
        """`full` [total, ...] on every rank becomes every rank's own rows of it (`shard(total)`, in place):
        persistent chains, each rank stepping its share and every rank (so every checkpoint) holding all."""
        if not self.parallel:
            return
        host = np.ascontiguousarray(_host(xp, full))
        width = host[0].size
        counts = [self._shard_of(r, share.total).rows * width for r in range(self.size)]
        offsets = [self._shard_of(r, share.total).start * width for r in range(self.size)]
        self.comm.Allgatherv(host[share.start:share.stop].copy(), [host, (counts, offsets)])
        if host is not full:
            full[...] = xp.asarray(host)

    def gather_copies(self, local: np.ndarray, total: int, axis: int = 0) -> np.ndarray:
        """Every rank's `local` (its `share(total)` along `axis`: environment copies) side by side along `axis`,
        on every rank: what one process stepping all `total` holds. One Allgatherv."""
        if not self.parallel:
            return local
        return self._allgather(local, [self._shard_of(r, total).rows for r in range(self.size)], axis)

    def gather_varying(self, local: np.ndarray) -> np.ndarray:
        """Every rank's rows of `local` one after another, rank 0's first, on every rank: shares whose sizes
        only their ranks know (the episodes that ended in an iteration)."""
        if not self.parallel:
            return local
        return self._allgather(local, self.comm.allgather(len(local)), 0)

    def _allgather(self, local: np.ndarray, rows: list[int], axis: int) -> np.ndarray:
        from mpi4py import MPI

        moved = np.ascontiguousarray(np.moveaxis(np.asarray(local), axis, 0))
        width = int(np.prod(moved.shape[1:], dtype=np.int64)) * moved.dtype.itemsize  # bytes per row
        whole = np.empty((sum(rows), *moved.shape[1:]), moved.dtype)
        counts = [r * width for r in rows]
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).tolist()
        self.comm.Allgatherv([moved.reshape(-1).view(np.uint8), MPI.BYTE],
                             [whole.reshape(-1).view(np.uint8), (counts, offsets), MPI.BYTE])
        return np.moveaxis(whole, 0, axis)

    def same_everywhere(self, value):
        """Rank 0's `value` on every rank (a small Python object)."""
        return self.comm.bcast(value, root=0) if self.parallel else value

    def local_size(self) -> int:
        """How many ranks run on this machine (they share its cores)."""
        return self.local_rank_and_size()[1]

    def local_rank_and_size(self) -> tuple[int, int]:
        """(this rank's number among the ranks on its machine, how many run there)."""
        if not self.parallel:
            return 0, 1
        from mpi4py import MPI

        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return local.Get_rank(), local.Get_size()
        finally:
            local.Free()

    def barrier(self) -> None:
        if self.parallel:
            self.comm.Barrier()

    def abort(self, message: str, code: int = 1) -> None:
        """Stop every rank of the job now (the others may be waiting in a collective)."""
        sys.stderr.flush()
        os.write(sys.stderr.fileno(), (message.rstrip("\n") + "\n").encode())
        # the launcher forwards output asynchronously, and the abort tears down every rank's pipes: without a
        # moment's grace the message was lost in about one run of ten
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(code)


def _host(xp, a) -> np.ndarray:
    return a if xp is np else xp.asnumpy(a)


_WORLD: World | None = None


def world() -> World:
    """The ranks of this job: MPI's COMM_WORLD when mpi4py imports and it has more than one rank (started
    under mpiexec), else a world of one. Found once per process."""
    global _WORLD
    if _WORLD is None:
        _WORLD = World(_mpi_comm())
    return _WORLD


def _mpi_comm():
    if os.environ.get(DISABLE_ENV) == "0" or not _under_launcher():
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None


LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS",
                      "HYDI_CONTROL_FD")  # what mpiexec sets in each rank's environment: whole numbers all


def _under_launcher() -> bool:
    """Started by mpiexec (MPICH's Hydra, Open MPI, Slurm's PMI): importing mpi4py initialises MPI, which is
    not free, so a plain `nngraph train` does not pay it. A launcher's variable that is no whole number was
    left or set by hand: MPI's initialisation aborted the process on it (`PMI_SIZE=abc`: 'Fatal error in
    internal_Init_thread', exit 16), so it is refused first."""
    import importlib.util

    present = {k: os.environ[k] for k in LAUNCHER_VARIABLES if k in os.environ}
    if present and importlib.util.find_spec("mpi4py") is None:
        return False  # no MPI to start: the variables are nobody's concern
    for name, value in present.items():
        if not (value.isascii() and value.isdigit()):
            raise TrainingError(f"{name}={value[:40]!r}: an MPI launcher sets it to a whole number; this one was not "
                                "set by mpiexec", hint=f"unset {name}, or set {DISABLE_ENV}=0 to train without MPI")
    return bool(present)


class ShardedGenerator:
    """The loop's generator as one rank sees it. Every rank holds the same generator in the same state (the
    same seed, the same draws), so a draw of the whole global batch is the same on every rank and the same as
    one process's; `rows` returns this rank's part of it. Every other use goes to the generator itself."""

    def __init__(self, rng: np.random.Generator, shard: Shard):
        self.generator, self.shard = rng, shard

    def rows(self, draw: str, shape: tuple, blocks: int = 1, **options) -> np.ndarray:
        """`getattr(generator, draw)` of `shape`, whose first axis is `blocks` blocks of this rank's rows (a
        recurrent plan's time-major steps): drawn for the global batch, this rank's rows of each block kept."""
        self._check_rows(shape, blocks)
        # `size=`: the draws' own first argument differs (`integers` takes `low` first)
        full = getattr(self.generator, draw)(size=(blocks, self.shard.total) + tuple(shape[1:]), **options)
        return full[:, self.shard.start:self.shard.stop].reshape(shape)

    def _check_rows(self, shape: tuple, blocks: int) -> None:
        if shape[0] != blocks * self.shard.rows:
            # rows laid out otherwise (a VAE's repeated examples, a GAN discriminator's real and generated halves):
            # which of one process's numbers are this rank's depends on that layout, which a draw cannot see
            raise TrainingError(f"a random draw of {shape[0]} rows for a shard of {self.shard.rows} examples "
                                f"({blocks} steps) cannot be split across MPI ranks as one process draws it",
                                hint="dropout or noise on rows other than the examples' (a vae with samples > 1, "
                                     "dropout in a gan's discriminator, a gan's instance_noise) does not train "
                                     "data-parallel yet: "
                                     "run it in one process (without mpiexec)")

    def fill_rows(self, fill, out):
        """`fill(generator, array)` (a sampler's own way to fill an array with draws, e.g. `compile.gibbs.uniform`)
        run on an array of the global batch's rows; this rank's rows of it copied into `out` [rows, ...]."""
        self._check_rows(out.shape, 1)
        full = array_module(out).empty((self.shard.total,) + out.shape[1:], dtype=out.dtype)
        fill(self.generator, full)
        out[...] = full[self.shard.start:self.shard.stop]
        return out

    def with_generator(self, generator) -> ShardedGenerator:
        """The same rows of another generator (a device generator seeded from this one)."""
        return ShardedGenerator(generator, self.shard)

    def __getattr__(self, name):
        return getattr(self.generator, name)


def draw(rng, kind: str, shape: tuple, **options) -> np.ndarray:
    """`getattr(rng, kind)(size=shape, **options)`; through a rank's view (`ShardedGenerator`), its rows of the
    draw one process makes for all rows (an agent's actions for its environment copies)."""
    if isinstance(rng, ShardedGenerator):
        return rng.rows(kind, shape, **options)
    return getattr(rng, kind)(size=shape, **options)


def whole(rng):
    """The generator behind a rank's view: for draws that are the same on every rank (where chains start)."""
    return rng.generator if isinstance(rng, ShardedGenerator) else rng


def step_rows(rng, rows: int) -> Shard:
    """The rows of the global batch that this step's `rows` examples are: under MPI the rank's shard (its view
    of the generator knows it), else all of them."""
    return rng.shard if isinstance(rng, ShardedGenerator) else Shard(0, rows, rows)


def other_rows(rng, total: int):
    """(A generator, this rank's share) for draws on `total` rows that are not the examples' (persistent
    chains: `check_data_parallel` makes sure there are at least as many as ranks): under MPI the rank's
    contiguous share of them, drawn as one process draws all `total`; in one process `rng` and all of them."""
    if not isinstance(rng, ShardedGenerator):
        return rng, Shard(0, total, total)
    share = world().shard(total)
    return ShardedGenerator(rng.generator, share), share


@contextlib.contextmanager
def abort_on_error():
    """Under MPI, an exception on one rank stops the job: the rank prints what went wrong, naming itself (a
    spec or data error as `path:line:col: error: ...` with its hint), and calls MPI_Abort (exit code 1), so no
    rank is left waiting in a collective (a rank that merely exits leaves the others blocked in MPI_Finalize).
    Files are written atomically, so the last checkpoint stays whole. Without MPI: nothing."""
    w = world()
    if not w.parallel:
        yield
        return
    try:
        yield
    except SystemExit as e:
        if e.code not in (0, None):
            w.abort(f"nngraph: rank {w.rank} of {w.size} exited with {e.code}; stopping all ranks", 1)
        raise
    except BaseException as e:  # noqa: BLE001 - any failure must end every rank, not only this one
        w.abort(f"nngraph: rank {w.rank} of {w.size} failed:\n{describe(e)}\n"
                f"nngraph: stopping all {w.size} ranks (MPI_Abort); the last checkpoint is kept as it was", 1)
        raise


def describe(error: BaseException) -> str:
    """An error as the CLI prints it, without the source line (train/ does not import the CLI)."""
    if not isinstance(error, NngraphError):
        return f"error: {type(error).__name__}: {error}"
    lines = []
    for d in error.diagnostics:
        lines.append(f"{d.span}: {d.severity}: {d.message}" if d.span is not None else f"{d.severity}: {d.message}")
        lines += [f"  hint: {d.hint}"] if d.hint else []
    return "\n".join(lines)
