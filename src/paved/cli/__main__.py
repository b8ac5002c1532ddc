"""``python -m paved.cli``: the same as the ``paved`` command."""

from paved.cli import main

main()
