"""dapaudit: audit how Microsoft CSP partners hold administrative access to customer tenants."""

from functools import cache


def open(path, snapshot=None):  # noqa: A001 - dapaudit.open(path), like sqlite3.connect
    """Open an audit database read-only for notebooks: `.sql()`, `.findings()`, `.tables()`."""
    from .api import open as _open

    return _open(path, snapshot=snapshot)


@cache
def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dapaudit")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+source"


def __getattr__(name: str) -> str:
    """`dapaudit.__version__`, looked up when first asked for: reading the installed package's
    metadata cost every command 5-6 ms, and only --version, reports and exports print it."""
    if name == "__version__":
        return _installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
