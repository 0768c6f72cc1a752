"""`python -m nngraph.cli`: the same as the `nngraph` command."""

from nngraph.cli import main

main()
