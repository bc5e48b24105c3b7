"""The version of spintrace (read by the build, ``spintrace --version`` and every report)."""

__version__ = "0.1.0"
