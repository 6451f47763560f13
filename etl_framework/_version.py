"""The package version, read by setup.py and `pipeline --version`."""

__version__ = "0.1.0"
