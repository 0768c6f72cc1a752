"""The compiled kernels that split their work over threads, on the paths with GEMMs (avx512, avx2):
`transposed_gemm` (the weight gradients of a recurrent unit, `accel.matmul_tn`) and the whole-sequence
kernels, their worker pool, and the thread settings (`accel.kernel_threads`, `threads.compute_threads`,
`threads.blas_yields_to_kernel_threads`)."""

from __future__ import annotations

import multiprocessing
import os
import threading

import numpy as np
import pytest

from nngraph.backend import accel, threads
from tests.backend.paths import EVERY_PATH, WITH_GEMMS, force_path, native
from tests.backend.test_kernels import row_strided


@pytest.fixture(autouse=True)
def _one_kernel_thread(monkeypatch):
    """Every test starts with the kernels on and one kernel thread, and leaves it so."""
    monkeypatch.delenv(accel.KERNELS_SWITCH, raising=False)
    monkeypatch.delenv(accel.ISA_SWITCH, raising=False)
    previous = accel.set_kernel_threads(1)
    yield
    accel.set_kernel_threads(previous)


def reference(factors, b, out_before=None):
    want = np.concatenate([a.astype(np.float64) for a in factors], axis=1).T @ b.astype(np.float64)
    return want if out_before is None else want + out_before


# ---- transposed_gemm -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 7, 256, 257, 600])
@pytest.mark.parametrize("widths", [(1,), (8,), (13,), (32, 128), (3, 5, 17)], ids=str)
@pytest.mark.parametrize("n", [1, 31, 32, 33, 100])
def test_transposed_gemm_matches_numpy(gemm_kernels, k, widths, n):
    """Every remainder: k across the 256-row blocks, columns of A across the 8-column tiles (several
    arrays side by side, tiles straddling two of them), columns of B across the 32-column strips."""
    rng = np.random.default_rng(k * 1000 + n + sum(widths))
    factors = [rng.standard_normal((k, m)).astype(np.float32) for m in widths]
    b = rng.standard_normal((k, n)).astype(np.float32)
    for count in (1, 2, 3, 5):
        for accumulate in (False, True):
            out = rng.standard_normal((sum(widths), n)).astype(np.float32)
            want = reference(factors, b, out.astype(np.float64) if accumulate else None)
            gemm_kernels.transposed_gemm(factors if len(factors) > 1 else factors[0], b, out, accumulate, count)
            case = f"threads={count} accumulate={accumulate}"
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * max(k, 1) ** 0.5, err_msg=case)


def test_transposed_gemm_reads_and_writes_row_strided_views(gemm_kernels):
    rng = np.random.default_rng(3)
    a, _ = row_strided(rng, 300, 12)
    b, _ = row_strided(rng, 300, 40, pad=2)
    out, base = row_strided(rng, 12, 40, pad=5)
    gemm_kernels.transposed_gemm((a,), b, out, False, 2)
    np.testing.assert_allclose(out, reference([a], b), rtol=1e-5, atol=1e-4)
    outside = np.ones(base.shape, bool)
    outside[1:13, 3:43] = False
    assert np.isnan(base[outside]).all()  # nothing written outside the view


def test_the_result_does_not_depend_on_the_thread_count(gemm_kernels):
    """Each element is the same sum in the same order whichever thread computes it."""
    rng = np.random.default_rng(4)
    factors = [rng.standard_normal((700, m)).astype(np.float32) for m in (32, 128)]
    b = rng.standard_normal((700, 512)).astype(np.float32)
    results = []
    for count in (1, 2, 3, 4, 7):
        out = np.empty((160, 512), np.float32)
        gemm_kernels.transposed_gemm(factors, b, out, False, count)
        results.append(out)
    for out in results[1:]:
        np.testing.assert_array_equal(out, results[0])


def test_transposed_gemm_rejects_bad_arguments(gemm_kernels):
    K = gemm_kernels
    a, b, out = np.ones((6, 4), np.float32), np.ones((6, 5), np.float32), np.zeros((4, 5), np.float32)
    K.transposed_gemm(a, b, out)  # the good call
    with pytest.raises(TypeError, match="float32"):
        K.transposed_gemm(a.astype(np.float64), b.astype(np.float64), out.astype(np.float64))
    with pytest.raises(TypeError, match="like the other arrays"):
        K.transposed_gemm(a, b.astype(np.float64), out)
    with pytest.raises(ValueError, match="a has 5 rows where b has 6"):
        K.transposed_gemm((a, a[:5]), b, np.zeros((8, 5), np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(8, 5\)"):
        K.transposed_gemm([a, a], b, out)
    with pytest.raises(ValueError, match="1 to 16 arrays"):
        K.transposed_gemm((), b, out)
    with pytest.raises(ValueError, match="1 to 16 arrays"):
        K.transposed_gemm([a] * 17, b, np.zeros((68, 5), np.float32))
    with pytest.raises(TypeError, match="a must be"):
        K.transposed_gemm([a, "not an array"], b, out)
    with pytest.raises(ValueError, match="contiguous after its first axis"):
        K.transposed_gemm(np.ones((6, 8), np.float32)[:, ::2], b, out)
    with pytest.raises(TypeError, match="out must be a writable"):
        read_only = np.zeros((4, 5), np.float32)
        read_only.flags.writeable = False
        K.transposed_gemm(a, b, read_only)


@pytest.mark.parametrize("path", EVERY_PATH)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_tn_gives_one_gradient_per_factor(path, dtype, monkeypatch):
    force_path(monkeypatch, path)
    accel.set_kernel_threads(2)
    rng = np.random.default_rng(5)
    factors = [rng.standard_normal((90, m)).astype(dtype) for m in (3, 16)]
    b = rng.standard_normal((90, 40)).astype(dtype)
    got = accel.matmul_tn(np, factors, b)
    assert [g.shape for g in got] == [(3, 40), (16, 40)]
    for a, g in zip(factors, got):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, a.astype(np.float64).T @ b, rtol=1e-5, atol=1e-5)
    # a column-strided factor is not for the kernel: numpy's product, same values
    strided = rng.standard_normal((90, 8)).astype(dtype)[:, ::2]
    (g,) = accel.matmul_tn(np, [strided], b)
    np.testing.assert_allclose(g, strided.astype(np.float64).T @ b, rtol=1e-5, atol=1e-5)


# ---- the worker pool -----------------------------------------------------------------------------


def test_kernels_called_from_several_python_threads_at_once(gemm_kernels):
    """One split runs at a time; a kernel that finds the pool busy does its parts itself. Either way
    every caller gets its own right answer."""
    rng = np.random.default_rng(6)
    jobs = []
    for index in range(4):
        a = rng.standard_normal((400, 24 + index)).astype(np.float32)
        b = rng.standard_normal((400, 96)).astype(np.float32)
        jobs.append((a, b, reference([a], b)))
    failures = []

    def hammer(a, b, want):
        out = np.empty_like(want, dtype=np.float32)
        for _ in range(60):
            gemm_kernels.transposed_gemm(a, b, out, False, 2)
            if not np.allclose(out, want, rtol=1e-5, atol=1e-3):
                failures.append(a.shape)
                return

    workers = [threading.Thread(target=hammer, args=job) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    assert failures == []


def _split_in_child(queue, path):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((300, 16)).astype(np.float32), rng.standard_normal((300, 64)).astype(np.float32)
    out = np.empty((16, 64), np.float32)
    native(path).transposed_gemm(a, b, out, False, 2)
    queue.put(bool(np.allclose(out, a.astype(np.float64).T @ b, rtol=1e-5, atol=1e-4)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
@pytest.mark.parametrize("path", WITH_GEMMS)
def test_a_forked_child_starts_its_own_workers(path):
    """The parent's workers do not exist in a child forked after they started: the child must not wait
    for them (a deadlock) but start its own."""
    a = np.ones((64, 8), np.float32)
    native(path).transposed_gemm(a, a, np.empty((8, 8), np.float32), False, 2)  # the parent's pool is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_split_in_child, args=(queue, path))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in a split kernel")
    assert child.exitcode == 0
    assert queue.get(timeout=5) is True


# ---- the thread settings -------------------------------------------------------------------------


def test_compute_threads_sets_the_kernel_threads_and_restores_them(monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    assert accel.kernel_threads() == 1
    with threads.compute_threads(3):
        assert accel.kernel_threads() == 3
        with threads.compute_threads(None):  # None: as it was
            assert accel.kernel_threads() == 3
        with threads.compute_threads(16):  # no more kernel threads than cores: idle workers spin
            assert accel.kernel_threads() == 4
        assert accel.kernel_threads() == 3
    assert accel.kernel_threads() == 1
    with pytest.raises(RuntimeError), threads.compute_threads(2):
        raise RuntimeError("restored on the way out of an error too")
    assert accel.kernel_threads() == 1
    assert accel.set_kernel_threads(0) == 1 and accel.kernel_threads() == 1  # at least one


def test_free_cores_counts_the_cores_this_process_may_use(monkeypatch):
    assert 1 <= threads.free_cores() <= threads.cores() <= (os.cpu_count() or 1)
    monkeypatch.setattr(threads, "cores", lambda: 8)
    monkeypatch.setattr(threads, "busy_cores", lambda: None)  # where the CPU counters cannot be read
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 0.0, 0.0))
    assert threads.free_cores() == 5
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (20.0, 0.0, 0.0))
    assert threads.free_cores() == 1

    def unavailable():
        raise OSError("no load average here")

    monkeypatch.setattr(threads.os, "getloadavg", unavailable)
    assert threads.free_cores() == 8


def test_free_cores_are_those_no_other_process_keeps_busy_now(monkeypatch, tmp_path):
    """The busy share of this process's CPUs over a short look, from the kernel's counters: not the load average,
    which a run that just ended raises for a minute (the next run then took fewer threads, and other bits)."""
    counters = iter([
        "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 0 0 1000 0 0 0 0 0 0\ncpu1 100 0 0 1000 0 0 0 0 0 0\n"
        "cpu2 0 0 0 0 0 0 0 0 0 0\nintr 1 2 3\n",
        "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 104 0 1 1000 0 0 0 0 0 0\ncpu1 100 0 0 1005 0 0 0 0 0 0\n"
        "cpu2 50 0 0 0 0 0 0 0 0 0\nintr 1 2 3\n"])
    stat = tmp_path / "stat"

    def look(_seconds):
        stat.write_text(next(counters))

    look(0)
    monkeypatch.setattr(threads, "CPU_TIMES", str(stat))
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr("time.sleep", look)
    assert threads.busy_cores() == pytest.approx(1.0)  # cpu0 busy all 5 ticks, cpu1 idle, cpu2 not ours
    monkeypatch.setattr(threads, "CPU_TIMES", str(tmp_path / "none"))
    assert threads.busy_cores() is None


def blas_thread_counts():
    """The thread counts of the BLAS libraries nngraph's controller found (numpy's): another one loaded later (scipy's
    own OpenBLAS, by an import in another test) is one numpy's products never call."""
    return [pool["num_threads"] for pool in threads._controller().info() if pool["user_api"] == "blas"]


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_blas_yields_its_threads_to_splitting_kernels(path, monkeypatch):
    pytest.importorskip("threadpoolctl")
    force_path(monkeypatch, path)
    monkeypatch.setattr(threads, "cores", lambda: 2)  # two kernel threads even on a one-core machine
    with threads.compute_threads(2):
        before = blas_thread_counts()
        with threads.blas_yields_to_kernel_threads(np):
            assert all(count == 1 for count in blas_thread_counts())
        assert blas_thread_counts() == before
        for keeps in (accel.TWINS, "generic"):  # kernels that split nothing: the BLAS keeps its threads
            force_path(monkeypatch, keeps)
            with threads.blas_yields_to_kernel_threads(np):
                assert blas_thread_counts() == before
        force_path(monkeypatch, path)
    with threads.compute_threads(1), threads.blas_yields_to_kernel_threads(np):  # no split: nothing to yield
        assert blas_thread_counts() == [1] * len(before)


# ---- the whole-sequence kernels' arguments (their results: tests/backend/test_accel.py) -----------


def test_elman_sequence_kernels_reject_bad_arguments(gemm_kernels):
    K = gemm_kernels
    steps, n, w = 3, 4, 5
    pre, weight = np.zeros((steps * n, w), np.float32), np.zeros((w, w), np.float32)
    h, dh, da = (np.zeros(((steps + 1) * n, w), np.float32), np.zeros(((steps + 1) * n, w), np.float32),
                 np.zeros((steps * n, w), np.float32))
    K.elman_sequence_forward(pre, weight, h, n, 2)  # the good calls
    K.elman_sequence_backward(h, dh, da, weight, n, 2)
    with pytest.raises(TypeError, match="float32"):
        K.elman_sequence_forward(pre.astype(np.float64), weight.astype(np.float64), h.astype(np.float64), n)
    with pytest.raises(ValueError, match=r"h must have shape \(16, 5\)"):
        K.elman_sequence_forward(pre, weight, h[:-1], n)
    with pytest.raises(ValueError, match="not whole steps of n = 5"):
        K.elman_sequence_forward(pre, weight, h, 5)
    with pytest.raises(ValueError, match="not whole steps of n = 0"):
        K.elman_sequence_backward(h, dh, da, weight, 0)
    with pytest.raises(ValueError, match=r"weight must have shape \(5, 5\)"):
        K.elman_sequence_forward(pre, np.zeros((5, 6), np.float32), h, n)
    with pytest.raises(ValueError, match=r"dh must have shape \(16, 5\)"):
        K.elman_sequence_backward(h, dh[:-n], da, weight, n)
    frozen = dh.copy()
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="dh must be a writable"):
        K.elman_sequence_backward(h, frozen, da, weight, n)


def test_gru_sequence_kernels_reject_bad_arguments(gemm_kernels):
    K = gemm_kernels
    steps, n, w = 3, 4, 5
    f32 = np.float32
    pre, weight, h = np.zeros((steps * n, 3 * w), f32), np.zeros((w, 3 * w), f32), np.zeros(((steps + 1) * n, w), f32)
    hu, rz, nn = np.zeros((steps * n, 3 * w), f32), np.zeros((steps * n, 2 * w), f32), np.zeros((steps * n, w), f32)
    dh, gx, ghu = np.zeros_like(h), np.zeros_like(hu), np.zeros_like(hu)
    K.gru_sequence_forward(pre, weight, h, hu, rz, nn, n, 2)  # the good calls
    K.gru_sequence_backward(h, hu, rz, nn, dh, gx, ghu, weight, n, 2)
    with pytest.raises(TypeError, match="gru_sequence_forward needs float32"):
        K.gru_sequence_forward(*(x.astype(np.float64) for x in (pre, weight, h, hu, rz, nn)), n)
    with pytest.raises(ValueError, match="not whole steps of n = 5"):
        K.gru_sequence_forward(pre, weight, h, hu, rz, nn, 5)
    with pytest.raises(ValueError, match=r"gates must have shape \(12, 10\)"):
        K.gru_sequence_forward(pre, weight, h, hu, nn, nn, n)
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 5\)"):
        K.gru_sequence_forward(pre, weight, h, hu, rz, nn, n, 1, np.ones((n, w + 1), f32))
    with pytest.raises(TypeError, match="mask must be float32 or float64, like the other arrays"):
        K.gru_sequence_backward(h, hu, rz, nn, dh, gx, ghu, weight, n, 1, np.ones((n, w)))
    with pytest.raises(ValueError, match="mask and raw come together"):  # an Elman layer's
        K.elman_sequence_forward(pre[:, :w].copy(), weight[:, :w].copy(), h, n, 1, np.ones((n, w), f32))
    with pytest.raises(ValueError, match=r"raw must have shape \(12, 5\)"):
        K.elman_sequence_backward(h, dh, nn, weight[:, :w].copy(), n, 1, np.ones((n, w), f32), rz)
    with pytest.raises(ValueError, match=r"gates must have shape \(12, 5\)"):  # an MGU's: one gate
        mgu_pre, mgu_weight, mgu_hu = (np.zeros((rows, 2 * w), f32) for rows in (steps * n, w, steps * n))
        K.mgu_sequence_forward(mgu_pre, mgu_weight, h, mgu_hu, rz, nn, n)
    with pytest.raises(ValueError, match=r"weight must have shape \(5, 15\)"):
        K.gru_sequence_backward(h, hu, rz, nn, dh, gx, ghu, weight[:, :10], n)
    with pytest.raises(TypeError, match="ghu must be a writable"):
        frozen = ghu.copy()
        frozen.flags.writeable = False
        K.gru_sequence_backward(h, hu, rz, nn, dh, gx, frozen, weight, n)


DCGAN = """
model g { noise z[4] normal; layer a[4, 4, 4] relu; output x[1, 8, 8] sigmoid
          z -> a; a -> x deconv(filters=1, kernel=4, stride=2, padding=1) }
model d { input x[1, 8, 8]; layer c relu; output real[1] sigmoid
          x -> c conv(filters=4, kernel=3, stride=2, padding=1); c -> real }
train { data digits(shape=[1, 8, 8], limit=16); method gan(generator=g, discriminator=d); batch 8; epochs 1 }
"""


@pytest.mark.parametrize("path", WITH_GEMMS)
def test_every_convolutional_method_s_step_holds_the_blas_at_one_thread(path, monkeypatch):
    """A method whose program convolves (a GAN's discriminator here, not only a backprop net) steps with the
    BLAS on one thread while the kernels split the convolutions: a DCGAN's epochs ran 4.4x slower on 2 cores
    with both pools spinning."""
    pytest.importorskip("threadpoolctl")
    import nngraph
    from nngraph.data.dataset import unsupervised
    from nngraph.session import prepare
    from nngraph.train.loop import run_train_step

    force_path(monkeypatch, path)
    monkeypatch.setattr(threads, "cores", lambda: 2)
    method = prepare(nngraph.loads(DCGAN, "dcgan.nn")).method
    assert method.convolutional
    seen = []
    step = method.train_step
    monkeypatch.setattr(method, "train_step", lambda batch, rng: seen.append(blas_thread_counts()) or step(batch, rng))
    with threads.compute_threads(2):
        before = blas_thread_counts()
        run_train_step(method, unsupervised(np.random.default_rng(0).random((8, 1, 8, 8)), "x"), np.random.default_rng(1))
        assert blas_thread_counts() == before
    assert seen and all(count == 1 for count in seen[0])
