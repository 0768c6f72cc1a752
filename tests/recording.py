"""A generator for tests of the order of a pass's random draws."""

import numpy as np


class Recording:
    """A numpy generator that notes the shape of every draw, in order."""

    def __init__(self):
        self.rng, self.shapes = np.random.default_rng(0), []

    def random(self, shape, dtype=None):
        self.shapes.append(shape)
        return self.rng.random(shape, dtype=dtype)

    def standard_normal(self, shape, dtype=None):
        self.shapes.append(shape)
        return self.rng.standard_normal(shape, dtype=dtype)
