"""``python -m spintrace``: the ``spintrace`` command."""

from spintrace.cli import main

main()
