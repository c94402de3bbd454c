"""dapaudit: audit how Microsoft CSP partners hold administrative access to customer tenants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dapaudit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"
