"""`python -m nngraph.backend`: which path the compiled CPU kernels take here, and why (see accel)."""

from nngraph.backend.accel import status

print(status())
