"""`python -m nngraph.backend`: which path the compiled CPU kernels take here, and why (see accel); and whether
this machine's GPU compiles and runs nngraph's CUDA kernels."""

import sys

from nngraph.backend.accel import status
from nngraph.backend.cuda.launch import device_check
from nngraph.errors import NngraphError

try:
    print(status())
except NngraphError as error:  # NNGRAPH_ISA names no path this CPU runs
    sys.exit(f"error: {error}")
print(device_check())
