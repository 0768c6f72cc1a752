"""Image quality of super-resolution: PSNR and SSIM of a model's images against the truth, beside the same
figures for bicubic interpolation of the same low-resolution inputs.

Pixels lie in [0, 1] (every image loader's range), so the data range is 1, and both the model's images and
bicubic's are clipped to it first, as an image written to a file would be. Each figure is the mean over the
images (and for SSIM over their channels) of a per-image value, as super-resolution papers report them.
SSIM is scikit-image's `structural_similarity` with its defaults (Wang et al. 2004): 7 x 7 uniform windows
(only those wholly inside the image), the sample covariance, K1 = 0.01, K2 = 0.03.
"""

from __future__ import annotations

import numpy as np

from nngraph.ops.upsample import resize

DATA_RANGE = 1.0
WINDOW = 7
K1, K2 = 0.01, 0.03
PSNR_CAP = 100.0  # dB, for an image reproduced exactly (an MSE of 0 would give infinity)


def psnr(images: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the images of 10 log10(range^2 / MSE), in dB."""
    error = ((np.asarray(images, np.float64) - truth) ** 2).reshape(len(truth), -1).mean(axis=1)
    floor = DATA_RANGE ** 2 * 10 ** (-PSNR_CAP / 10)
    return float(np.mean(10 * np.log10(DATA_RANGE ** 2 / np.maximum(error, floor))))


def _window_means(x: np.ndarray) -> np.ndarray:
    """The mean of every WINDOW x WINDOW window wholly inside (..., H, W), by summed-area tables."""
    table = np.zeros(x.shape[:-2] + (x.shape[-2] + 1, x.shape[-1] + 1))
    table[..., 1:, 1:] = x.cumsum(axis=-2).cumsum(axis=-1)
    k = WINDOW
    sums = table[..., k:, k:] - table[..., :-k, k:] - table[..., k:, :-k] + table[..., :-k, :-k]
    return sums / (k * k)


def ssim(images: np.ndarray, truth: np.ndarray) -> float:
    """Mean structural similarity of images (n, [C,] H, W) against the truth; H and W at least WINDOW."""
    x, y = np.asarray(images, np.float64), np.asarray(truth, np.float64)
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW} x {WINDOW}, got {list(x.shape[-2:])}")
    mx, my = _window_means(x), _window_means(y)
    sample = WINDOW * WINDOW / (WINDOW * WINDOW - 1)  # the sample covariance, as scikit-image's default
    vx = sample * (_window_means(x * x) - mx * mx)
    vy = sample * (_window_means(y * y) - my * my)
    cov = sample * (_window_means(x * y) - mx * my)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    index = (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.reshape(len(x), -1, index.shape[-2] * index.shape[-1]).mean(axis=-1).mean())


def bicubic(low: np.ndarray, factor: int) -> np.ndarray:
    """Low-resolution images (..., h, w) upscaled by bicubic interpolation and clipped to the data range."""
    return np.clip(resize(np.asarray(low, np.float64), factor, "bicubic"), 0.0, DATA_RANGE)


def image_quality(output: np.ndarray, data) -> dict[str, float]:
    """PSNR and SSIM of a super-resolution model's output, and of bicubic interpolation, on `data`; nothing
    for any other data set."""
    factor = data.info.get("superres")
    if not factor or data.y is None or output.shape != data.y.shape or min(output.shape[-2:]) < WINDOW:
        return {}
    model = np.clip(output, 0.0, DATA_RANGE)
    baseline = bicubic(data.x, factor)
    return {"psnr": psnr(model, data.y), "ssim": ssim(model, data.y),
            "bicubic_psnr": psnr(baseline, data.y), "bicubic_ssim": ssim(baseline, data.y)}
