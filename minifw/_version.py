"""The version of minifw: one place, read by the package metadata and the command line."""

__version__ = "0.2.0"
