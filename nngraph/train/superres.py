"""What `nngraph sample` makes of a model trained on super-resolution pairs (`superres(...)` data): for the
first test images (or those of `--input LOW.npy`), a picture of the low-resolution input (each pixel a block),
bicubic interpolation, the model's image and the truth (where there is one) side by side; or with `-o X.npy`, the
model's images as an array."""

from __future__ import annotations

import numpy as np

from nngraph.errors import BuildError, plural
from nngraph.ops.upsample import resize
from nngraph.train.image_quality import DATA_RANGE, bicubic
from nngraph.train.outputs import sample_path


def superres_samples(method, request: dict, splits) -> str:
    """The pictures (or array) of `method`'s super-resolution of the test split's first `count` images."""
    data = splits.test if splits.test is not None and len(splits.test) else splits.train
    factor = data.info.get("superres")
    if not factor:
        config = method.config
        raise BuildError(f"method '{config.method.name}' on model '{config.model}' does not generate samples",
                         config.method.span, "sampling is for character models, Boltzmann machines, VAEs, GANs "
                                             "and super-resolution (data superres(...))")
    from nngraph.viz import samples as pictures

    given = request.get("inputs")  # `sample --input LOW.npy`: the user's low-resolution images, no truth
    source = given if given is not None else data
    rows = source.take(np.arange(min(request["count"], len(source))))
    model = method.predict(rows.x)
    path = sample_path(request)
    if pictures.is_array(path):
        pictures.write_samples(path, model, model.shape[1:])
        return f"wrote {plural(len(rows), 'high-resolution image')} to {path}"
    columns = [resize(rows.x, factor, "nearest"), bicubic(rows.x, factor), np.clip(model, 0, DATA_RANGE)]
    if given is not None:
        written = pictures.write_side_by_side(path, columns)
        return f"wrote {written}: low / bicubic / model for {plural(len(rows), 'image')} of {given.name}"
    written = pictures.write_side_by_side(path, columns + [rows.y])
    return f"wrote {written}: low / bicubic / model / truth for {plural(len(rows), 'test image')}"
