"""`superres(IMAGES, factor=2)`: (low, high) resolution pairs made from any image set, for super-resolution.

The inner call is any image loader (`digits`, `mnist(...)`, `idx(...)`, an `npy` of images); its images are
the targets y (n, C, H, W), and the inputs x (n, C, H / factor, W / factor) are their block averages (each
low pixel the mean of a factor x factor block, as a camera's larger pixels would see it). Labels are dropped.
`info["superres"]` holds the factor, which makes evaluation add PSNR and SSIM against bicubic interpolation
of the same inputs (nngraph/train/image_quality.py).
"""

from __future__ import annotations

import numpy as np

from nngraph.data.catalog import LIMITED, Request, register
from nngraph.data.dataset import Dataset, regression
from nngraph.data.options import Option


def block_average(images: np.ndarray, factor: int) -> np.ndarray:
    """(..., H, W) images -> (..., H / factor, W / factor): the mean of each factor x factor block."""
    *lead, h, w = images.shape
    blocks = images.reshape(*lead, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(images.dtype)


def as_images(req: Request, data: Dataset) -> np.ndarray:
    """The inner set's examples as (n, C, H, W): an image shape of its own, or the loader's `image_shape`."""
    shape = data.feature_shape
    if len(shape) == 2:
        shape = (1, *shape)
    elif len(shape) != 3:
        picture = data.info.get("image_shape")
        if picture is None or int(np.prod(picture)) != int(np.prod(shape)):
            raise req.error(f"superres: the examples of {data.name or 'the data set'} (shape {list(shape)}) are "
                            "not images", "give the inner data set an image shape: shape=[1, 8, 8]", option="data")
        shape = (1, *picture) if len(picture) == 2 else tuple(picture)
    return data.x.reshape(len(data), *shape)


@register("superres", {"data": Option("call"), "factor": Option("int", 2, minimum=2), **LIMITED},
          positional=("data", "factor"))
def superres(req: Request) -> Dataset:
    """Pairs (low, high) from the image set `data`: x the images block-averaged by `factor`, y the images."""
    from nngraph.data.loading import load_dataset  # the loading module imports every loader, this one too

    if req["data"] is None:
        raise req.error("superres needs an image set: superres(digits, factor=2)")
    inner = load_dataset(req["data"], req.base_dir, req.seed, dtype=req.dtype)
    if inner.info.get("scale"):
        raise req.error(f"superres: the images keep their pixels in [0, 1], which PSNR and SSIM read; "
                        f"scale={inner.info['scale']} does not apply to them", "leave scale= out", option="data")
    high, factor = as_images(req, inner), req["factor"]
    if high.shape[-2] % factor or high.shape[-1] % factor:
        raise req.error(f"superres: {list(high.shape[-2:])} images do not split into {factor} x {factor} blocks",
                        f"use a factor that divides {high.shape[-2]} and {high.shape[-1]}", option="factor")
    return req.limited(regression(block_average(high, factor), high, "superres", dtype=req.dtype, superres=factor))
