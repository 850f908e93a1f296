"""outagewatch: outage monitor and incident communication for hosted e-mail platforms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("outagewatch")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
