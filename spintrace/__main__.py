"""``python -m spintrace``: the ``spintrace`` command."""

from spintrace.cli import main

if __name__ == "__main__":
    main()
