"""``python -m seg.cli``: the same entry point as the ``seg`` script."""

from seg.cli import main

main()
