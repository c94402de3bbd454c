"""Writing customer security reviews: one WeasyPrint setup per process, reused for each review.

`--all-tenants` renders thousands of small PDFs, so what WeasyPrint repeats per document counts:
the Pango font map (a FontConfiguration) is built once per process here instead of once per
review, a lean print stylesheet (review-print.css, parsed once) makes fewer pages to lay out,
and fonts are subset without reading the tables the subset drops anyway (below).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import DapauditError
from ..paths import TEMPLATES_DIR
from .model import ReportView, TenantReview
from .render import render_html, restricted_url_fetcher, write_html

# Tables the PDF never uses: WeasyPrint asks fontTools to drop GSUB and GPOS (text is already
# shaped), and GDEF only serves those two.
_UNUSED_FONT_TABLES = ("GSUB", "GPOS", "GDEF")


@contextmanager
def _lean_font_subsetting() -> Iterator[None]:
    """While WeasyPrint writes a PDF, drop the layout tables before fontTools subsets a font.

    Without HarfBuzz-Subset, WeasyPrint subsets every embedded font with fontTools, which
    parses GSUB/GPOS/GDEF in full (DejaVu's are large) and then drops them: about a fifth of
    a review's PDF time. Deleting them first from the lazily loaded font gives the same subset
    without the parse. Patched only around our own PDF writes.
    """
    try:
        from fontTools import subset
    except ImportError:  # fontTools comes with WeasyPrint; without it there is nothing to trim
        yield
        return
    original = subset.Subsetter.subset

    def lean_subset(self: Any, font: Any) -> Any:
        for tag in _UNUSED_FONT_TABLES:
            if (tag == "GDEF" or tag in self.options.drop_tables) and tag in font:
                del font[tag]
        return original(self, font)

    subset.Subsetter.subset = lean_subset
    try:
        yield
    finally:
        subset.Subsetter.subset = original


class ReviewWriter:
    """Writes reviews as HTML and/or PDF; holds the per-process PDF setup, made on first use."""

    def __init__(
        self, out: Path, formats: list[str], paper: str, limit: int, allowed: list[Path]
    ) -> None:
        self.out, self.formats, self.paper, self.limit = out, formats, paper, limit
        self.allowed = allowed
        self._pdf: tuple[Any, Any, Any, Any] | None = None

    def _weasyprint(self) -> tuple[Any, Any, Any, Any]:
        if self._pdf is None:
            try:
                from weasyprint import CSS, HTML
                from weasyprint.text.fonts import FontConfiguration
            except OSError as exc:  # missing system libraries (Pango)
                raise DapauditError(
                    f"cannot render PDF: WeasyPrint could not load ({exc})"
                ) from None
            fonts = FontConfiguration()
            # Parsed once per process, like the font map.
            lean = CSS(filename=str(TEMPLATES_DIR / "review-print.css"), font_config=fonts)
            self._pdf = (HTML, fonts, restricted_url_fetcher(self.allowed), lean)
        return self._pdf

    def write(self, review: TenantReview, stem: str) -> list[Path]:
        written = []
        if "html" in self.formats:
            target = self.out / f"{stem}.html"
            write_html(target, "tenant.html", r=review, view=ReportView("html", self.paper, None))
            written.append(target)
        if "pdf" in self.formats:
            target = self.out / f"{stem}.pdf"
            html = render_html(
                "tenant.html", r=review, view=ReportView("pdf", self.paper, self.limit)
            )
            HTML, font_config, fetcher, lean = self._weasyprint()
            document = HTML(string=html, base_url=str(TEMPLATES_DIR) + "/", url_fetcher=fetcher)
            with _lean_font_subsetting():
                document.write_pdf(str(target), stylesheets=[lean], font_config=font_config)
            written.append(target)
        return written
