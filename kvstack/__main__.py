"""`python -m kvstack` is the `kvstack` command."""

from kvstack.cli import main

main()
