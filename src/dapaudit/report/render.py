"""Render report models to HTML (Jinja2, autoescaped) and PDF (WeasyPrint, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..errors import DapauditError
from ..paths import TEMPLATES_DIR


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["inline_css"] = lambda name: (TEMPLATES_DIR / name).read_text(encoding="utf-8")
    return env


def render_html(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def _allowed(url: str, allowed_files: list[Path]) -> bool:
    """Only data: URLs, files under report_templates/ and the files named (a configured logo)."""
    if url.startswith("data:"):
        return True
    if not url.startswith("file://"):
        return False
    target = Path(unquote(url[len("file://") :].split("?")[0])).resolve()
    allowed = {p.resolve() for p in allowed_files}
    return target in allowed or target.is_relative_to(TEMPLATES_DIR.resolve())


def restricted_url_fetcher(allowed_files: list[Path]):
    """A WeasyPrint URL fetcher that refuses the network and every file not explicitly allowed."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint >= 66: a fetcher class
    except ImportError:  # older WeasyPrint: a fetcher function
        from weasyprint import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any):
            if not _allowed(url, allowed_files):
                raise ValueError(f"dapaudit does not fetch {url[:80]!r} while rendering a PDF")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

    class RestrictedFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None):
            if not _allowed(url, allowed_files):
                raise ValueError(f"dapaudit does not fetch {url[:80]!r} while rendering a PDF")
            return super().fetch(url, headers)

    return RestrictedFetcher(allowed_protocols={"file", "data"})


def write_pdf(html: str, target: Path, allowed_files: list[Path] | None = None) -> None:
    try:
        from weasyprint import HTML
    except OSError as exc:  # missing system libraries (Pango)
        raise DapauditError(f"cannot render PDF: WeasyPrint could not load ({exc})") from None
    HTML(
        string=html,
        base_url=str(TEMPLATES_DIR) + "/",
        url_fetcher=restricted_url_fetcher(allowed_files or []),
    ).write_pdf(str(target))
