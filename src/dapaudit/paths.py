"""Where dapaudit finds the files that ship beside the package (templates, sample data), and
the folders it writes into."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DapauditError

PACKAGE_DIR = Path(__file__).resolve().parent
# Editable installs (the documented way) run from the source tree: src/dapaudit -> repo root.
PROJECT_DIR = PACKAGE_DIR.parent.parent
TEMPLATES_DIR = PROJECT_DIR / "report_templates"
SAMPLE_DATA_DIR = PROJECT_DIR / "sample_data"
# The file name of a customer security review (report.service.review_file_stem): the reports
# name those of an earlier run, and ingest refuses them as exports.
REVIEW_FILE_NAME = r"review-[a-z0-9]+(?:-[a-z0-9]+)*\.(?:html|pdf)"


def checkout_folder(folder: Path) -> Path:
    """`folder` of the source checkout (report_templates/, sample_data/), or an error that
    says why it is missing: an install that is not editable leaves the checkout behind."""
    if not folder.is_dir():
        raise DapauditError(
            f"{folder.name}/ is not where dapaudit runs from ({folder.parent}): dapaudit reads "
            "it from its source checkout; install it with `pip install -e .` from a clone"
        )
    return folder


RULES_DIR = PACKAGE_DIR / "rules"
REFERENCE_DIR = PACKAGE_DIR / "reference"


def writable_folder(folder: str | os.PathLike[str], files: Iterable[str] = ()) -> Path:
    """`folder`, created with its parents if need be, once it is sure a command can write
    there. Called before any other work, so that a bad `--out` fails at once with exit code 2,
    before `run` changes the database. `files`: names the command writes into it; none of them
    may be a folder."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise DapauditError("the output folder is a file", file=str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DapauditError(
            f"cannot create the output folder: {exc.strerror or exc}", file=str(path)
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DapauditError(
            "cannot write into the output folder: permission denied", file=str(path)
        )
    for name in files:
        if (path / name).is_dir():
            raise DapauditError("a folder is in the way of a file to write", file=str(path / name))
    return path


@contextlib.contextmanager
def output_folder(folder: str | os.PathLike[str], files: Iterable[str] = ()) -> Iterator[Path]:
    """writable_folder(), for a command's block: if the block fails, the folders it created
    are removed again, as far as they are still empty (a failed command leaves no trace)."""
    path = Path(folder)
    topmost_new = None
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        topmost_new, probe = probe, probe.parent
    writable_folder(path, files)
    try:
        yield path
    except BaseException:
        if topmost_new is not None:
            for made in [path.absolute(), *path.absolute().parents]:
                try:
                    made.rmdir()  # only an empty folder
                except OSError:
                    break
                if made == topmost_new:
                    break
        raise


@contextlib.contextmanager
def atomic_target(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A scratch path beside `target` to write into; it replaces `target` once the block ends
    well, and is removed if it does not. An interrupted report leaves the previous one whole,
    never a truncated file under its name."""
    target = Path(target)
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield scratch
        os.replace(scratch, target)
    except BaseException:
        with contextlib.suppress(OSError):
            scratch.unlink()
        raise
