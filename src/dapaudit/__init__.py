"""dapaudit: audit how Microsoft CSP partners hold administrative access to customer tenants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dapaudit")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"


def open(path, snapshot=None):  # noqa: A001 - dapaudit.open(path), like sqlite3.connect
    """Open an audit database read-only for notebooks: `.sql()`, `.findings()`, `.tables()`."""
    from .api import open as _open

    return _open(path, snapshot=snapshot)
