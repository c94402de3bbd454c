"""Writing customer security reviews: one WeasyPrint setup per process, reused for each review.

`--all-tenants` renders thousands of small PDFs, so what WeasyPrint repeats per document counts:
the Pango font map (a FontConfiguration) is built once per process here instead of once per
review, a lean print stylesheet (review-print.css, parsed once) makes denser pages, each
font is subset once per process to a fixed set of common characters, and the cyclic garbage
collector runs once per review instead of hundreds of times (below).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import DapauditError
from ..paths import TEMPLATES_DIR, atomic_target
from .model import ReportView, TenantReview
from .render import font_times_fixed, render_html, restricted_url_fetcher, write_html

# Tables the PDF never uses: WeasyPrint asks fontTools to drop GSUB and GPOS (text is already
# shaped), and GDEF only serves those two.
_UNUSED_FONT_TABLES = ("GSUB", "GPOS", "GDEF")

# The characters of the reviews' own text and of most names: printable ASCII, Latin-1, common
# punctuation and ligatures. A fixed list, never taken from data: a font embedded in one
# customer's review must not tell which characters other customers' reviews used.
_COMMON_CHARS = (
    *range(0x20, 0x7F),
    *range(0xA0, 0x100),
    *(0x200B, 0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026),
    *range(0xFB00, 0xFB07),  # the ligatures shaping substitutes (ff, fi, fl, ...)
)
# (font file digest, face index, hinting) -> (glyph ids of _COMMON_CHARS, the font subset to them)
_common_subsets: dict[tuple[bytes, int, bool], tuple[frozenset[int], bytes]] = {}


@functools.cache
def _known_font_layout(font_class: type) -> bool:
    """Font.subset is WeasyPrint's internal API: the shortcut is taken only where it is the one
    it was written against (WeasyPrint 70: subset(self, to_unicode, hinting) on a Font with
    file_content, index and missing); elsewhere WeasyPrint subsets as it always does."""
    try:
        params = list(inspect.signature(font_class.subset).parameters)
        source = inspect.getsource(font_class)
    except (AttributeError, OSError, TypeError, ValueError):
        return False
    return params == ["self", "to_unicode", "hinting"] and all(
        name in source for name in ("self.file_content", "self.index", "self.missing")
    )


@contextmanager
def _lean_font_subsetting() -> Iterator[None]:
    """While WeasyPrint writes a review PDF, subset fonts once per process, not once per PDF.

    Without HarfBuzz-Subset, WeasyPrint subsets every embedded font of every PDF with
    fontTools: about a fifth of a review's PDF time. A review almost always uses only
    characters of _COMMON_CHARS, so each font is subset once to those (glyph ids are kept, so
    that subset serves any PDF whose glyphs it holds) and reused; a PDF with other characters
    gets its own subset as before. And fontTools parses GSUB/GPOS/GDEF in full (DejaVu's are
    large) before dropping them: they are deleted first from the lazily loaded font. Patched
    only around our own PDF writes.
    """
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
        from weasyprint.pdf.fonts import Font
    except ImportError:  # another WeasyPrint layout: write as WeasyPrint does
        yield
        return
    original_subset, original_font_subset = subset.Subsetter.subset, Font.subset

    def lean_subset(self: Any, font: Any) -> Any:
        for tag in _UNUSED_FONT_TABLES:
            if (tag == "GDEF" or tag in self.options.drop_tables) and tag in font:
                del font[tag]
        return original_subset(self, font)

    def common_subset(self: Any, to_unicode: dict[int, Any], hinting: bool) -> None:
        if not to_unicode or getattr(self, "missing", True):
            original_font_subset(self, to_unicode, hinting)
            return
        key = (hashlib.sha256(self.file_content).digest(), self.index, bool(hinting))
        if key not in _common_subsets:
            full = self.file_content
            face = TTFont(io.BytesIO(full), fontNumber=self.index, lazy=True)
            cmap = face.getBestCmap() or {}
            gids = frozenset({0, *(face.getGlyphID(cmap[c]) for c in _COMMON_CHARS if c in cmap)})
            original_font_subset(self, dict.fromkeys(sorted(gids)), hinting)
            _common_subsets[key] = (gids, self.file_content)
            self.file_content = full
        gids, content = _common_subsets[key]
        if gids.issuperset(to_unicode):
            self.file_content = content
        else:
            original_font_subset(self, to_unicode, hinting)

    subset.Subsetter.subset = lean_subset
    if _known_font_layout(Font):
        Font.subset = common_subset
    try:
        yield
    finally:
        subset.Subsetter.subset, Font.subset = original_subset, original_font_subset


@contextmanager
def _one_collection_per_review() -> Iterator[None]:
    """Pause the cyclic garbage collector while WeasyPrint renders one review, then collect the
    review's objects once.

    A review allocates hundreds of thousands of objects (boxes, styles, layouts): with the
    collector on, they trigger thousands of young and hundreds of older collections, and each
    older one rescans everything the process holds (about a tenth of a review's CPU time).
    Everything the render allocated is still in the youngest generation afterwards, so one
    collection of that generation frees the review's cycles without touching older objects.
    """
    if not gc.isenabled():  # someone else manages the collector: leave it to them
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


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
            with _one_collection_per_review():
                document = HTML(string=html, base_url=str(TEMPLATES_DIR) + "/", url_fetcher=fetcher)
                with _lean_font_subsetting(), font_times_fixed(), atomic_target(target) as scratch:
                    document.write_pdf(str(scratch), stylesheets=[lean], font_config=font_config)
                del document  # its cycles go in the collection on the way out
            written.append(target)
        return written
