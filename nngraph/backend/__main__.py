"""`python -m nngraph.backend`: which path the compiled CPU kernels take here, and why (see accel)."""

import sys

from nngraph.backend.accel import status
from nngraph.errors import NngraphError

try:
    print(status())
except NngraphError as error:  # NNGRAPH_ISA names no path this CPU runs
    sys.exit(f"error: {error}")
