"""Text handling for exports: encodings, the PowerShell `#TYPE` line, delimiters.

DuckDB reads UTF-8; everything else (UTF-16 from `Out-File`, Windows-1252 from
`Export-Csv -Encoding Default`) is transcoded once, streaming, to a UTF-8 copy.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DapauditError

HEAD_BYTES = 64 * 1024
_CHUNK = 1 << 20
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class TextInfo:
    """What we learnt from the first bytes of a file."""

    encoding: str  # python codec name used to decode
    bom: bool
    head: str  # decoded head (BOM and #TYPE line removed)
    type_line: str | None  # the PowerShell '#TYPE ...' line, when present
    is_binary: bool


def sniff_text(path: Path) -> TextInfo:
    with open(path, "rb") as fh:
        raw = fh.read(HEAD_BYTES)
    return sniff_bytes(raw)


def read_head_and_hash(path: Path) -> tuple[bytes, str, int, bool]:
    """The first HEAD_BYTES of a file, the SHA-256 of all of it, its size in bytes, and whether
    a head of plain ASCII is followed by bytes that are not UTF-8; reading it once: with
    thousands of small exports, opening and reading each file twice was measurable.

    The last: a head of ASCII says nothing of the encoding, and a Windows-1252 export
    (Export-Csv -Encoding Default) with its first accented name past the head was read as
    UTF-8 and refused. Checking costs an isascii() per chunk, and decoding only from the first
    chunk that is not ASCII (which starts on a character: all before it was ASCII)."""
    h = hashlib.sha256()
    not_utf8 = False
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        h.update(head)
        size = len(head)
        decoder = None if head.isascii() else False  # False: nothing to check
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
            if decoder is False or not_utf8 or (decoder is None and chunk.isascii()):
                continue
            if decoder is None:
                decoder = codecs.getincrementaldecoder("utf-8")()
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                not_utf8 = True
        if decoder and not not_utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                not_utf8 = True
    return head, h.hexdigest(), size, not_utf8


def sniff_bytes(raw: bytes) -> TextInfo:
    """What the first HEAD_BYTES of a file say about its encoding and header."""
    encoding, bom = _detect_encoding(raw)
    if encoding is None:
        return TextInfo("binary", False, "", None, True)
    body = raw[len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else (2 if bom else 0) :]
    # Drop a partial multi-byte character at the cut without failing.
    head = body.decode(_codec(encoding), errors="ignore")
    type_line = None
    first, _, rest = head.partition("\n")
    if first.lstrip().startswith("#TYPE"):
        type_line = first.strip()
        head = rest
    return TextInfo(encoding, bom, head, type_line, False)


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _detect_encoding(raw: bytes) -> tuple[str | None, bool]:
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if raw.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", True
    if raw.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", True
    if not raw:
        return "utf-8", False
    # UTF-16 without BOM: every other byte NUL in ASCII-heavy text.
    if len(raw) >= 4 and raw[1::2].count(0) > len(raw) // 4 and raw[0::2].count(0) == 0:
        return "utf-16-le", False
    if len(raw) >= 4 and raw[0::2].count(0) > len(raw) // 4 and raw[1::2].count(0) == 0:
        return "utf-16-be", False
    if b"\x00" in raw:
        return None, False
    try:
        raw.decode("utf-8")
        return "utf-8", False
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte sequence at the end of the head is still UTF-8.
        if exc.start >= len(raw) - 3 and len(raw) == HEAD_BYTES:
            return "utf-8", False
    # Not UTF-8: Windows ANSI (Export-Csv -Encoding Default, Set-Content).
    if _looks_binary(raw):
        return None, False
    return "cp1252", False


def _looks_binary(raw: bytes) -> bool:
    control = sum(1 for b in raw if b < 9 or 13 < b < 32)
    return control > len(raw) // 100 + 1


def needs_transcoding(info: TextInfo) -> bool:
    """DuckDB reads plain UTF-8 (with or without BOM) directly; anything else gets a copy."""
    return info.encoding not in ("utf-8", "utf-8-sig") or info.type_line is not None


def whole_text(whole: bytes, info: TextInfo) -> str | None:
    """A whole file's bytes as the text transcode() writes (no BOM, no #TYPE line), or None
    when they do not decode (transcode() then says where)."""
    skip = len(codecs.BOM_UTF8) if info.encoding == "utf-8-sig" else (2 if info.bom else 0)
    try:
        text = whole[skip:].decode(_codec(info.encoding))
    except UnicodeDecodeError:
        return None
    if info.type_line is not None:
        text = text.split("\n", 1)[1] if "\n" in text else ""
    return text


def transcode(path: Path, info: TextInfo, target: Path, whole: bytes | None = None) -> None:
    """Stream `path` into `target` as UTF-8 without BOM, dropping a leading #TYPE line.

    `whole`, when given, is the file's entire content, already read: most exports are smaller
    than the head, and decoding the bytes in hand spares reading the file again (2,500 UTF-16
    files cost two seconds). Undecodable bytes take the streaming path, for its message."""
    text = whole_text(whole, info) if whole is not None else None
    if text is not None:
        with open(target, "w", encoding="utf-8", newline="") as dst:
            dst.write(text)
        return
    decoder = codecs.getincrementaldecoder(_codec(info.encoding))(errors="strict")
    skip = len(codecs.BOM_UTF8) if info.encoding == "utf-8-sig" else (2 if info.bom else 0)
    drop_type_line = info.type_line is not None
    offset = 0
    try:
        with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
            src.seek(skip)
            offset = skip
            pending = ""
            while chunk := src.read(_CHUNK):
                text = decoder.decode(chunk)
                offset += len(chunk)
                if drop_type_line:
                    pending += text
                    if "\n" not in pending:
                        continue
                    text = pending.split("\n", 1)[1]
                    drop_type_line = False
                dst.write(text)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise DapauditError(
            f"not valid {info.encoding} text at byte {offset + exc.start}", file=str(path)
        ) from None


def _first_line(head: str) -> str:
    # A lone CR ends a line too (old Mac exports); csv.reader refuses one inside a field.
    return re.split(r"\r\n|\r|\n", head, maxsplit=1)[0]


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    except csv.Error:  # e.g. a NUL byte: not a header we can use
        return []


def sniff_delimiter(head: str) -> str:
    """The delimiter of the header line: the candidate that splits it into most fields."""
    header = _first_line(head)
    best, best_count = ",", 0
    for delim in DELIMITERS:
        fields = _fields(header, delim)
        if len(fields) > best_count:
            best, best_count = delim, len(fields)
    return best


def csv_header(head: str, delimiter: str) -> list[str]:
    return [c.strip() for c in _fields(_first_line(head), delimiter)]


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.){1,200})"\s*:')


def json_keys(head: str) -> set[str]:
    """Keys seen in the head of a JSON document (a cheap look, not a parse)."""
    return set(_JSON_KEY.findall(head))


def normalise_header(name: str) -> str:
    """Canonical spelling of a column name for matching: lower case, no spaces or punctuation."""
    return re.sub(r"[^0-9a-z@.]", "", name.lower())
