"""Streaming the entries of one large top-level JSON object with their byte ranges.

``{"id1": {...}, "id2": {...}}`` (an M5Product meta file) is read in chunks; each entry is
yielded with the byte range of its ``"key": value`` text, which :func:`read_entry` parses again
later. Only one chunk and one entry are in memory at a time. A file that is not such an object
gets the exact error ``json.load`` reports (line and column).
"""
from __future__ import annotations

import codecs
import json
import os
from json.decoder import scanstring
from typing import Any, Iterator, Tuple

from .errors import ManifestError

CHUNK = 1 << 20
WHITESPACE = ' \t\n\r'


class _Incomplete(Exception):
    """More text is needed to finish the current token."""


class _Reader:
    """Decoded text of a file read chunk by chunk, with the byte offset of any position."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.decoder = codecs.getincrementaldecoder('utf-8')()
        self.text = ''
        self.base_char = 0     # text[0] is this many characters into the file
        self.mark_char = 0     # a position whose byte offset is known ...
        self.mark_byte = 0     # ... this one
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.handle.read(CHUNK)
        self.eof = not data
        self.text += self.decoder.decode(data, final=self.eof)
        return not self.eof or bool(data)

    def byte_offset(self, pos: int) -> int:
        """Byte offset of character ``pos`` (relative to ``text``), moving the mark forward."""
        segment = self.text[self.mark_char - self.base_char:pos]
        self.mark_byte += len(segment.encode('utf-8'))
        self.mark_char = self.base_char + pos
        return self.mark_byte

    def drop_before(self, pos: int) -> int:
        """Forget text before ``pos`` (once enough has been consumed); returns the new ``pos``."""
        if pos > CHUNK:
            self.byte_offset(pos)
            self.text = self.text[pos:]
            self.base_char += pos
            return 0
        return pos

    def skip_ws(self, pos: int) -> int:
        while True:
            while pos < len(self.text) and self.text[pos] in WHITESPACE:
                pos += 1
            if pos < len(self.text) or not self.fill():
                return pos


def _token(reader: _Reader, pos: int, parse) -> Tuple[Any, int]:
    """Parse at ``pos`` with ``parse(text, pos) -> (value, end)``, reading more text while the
    token may be cut off (it must be followed by a non-blank character or the end of file)."""
    while True:
        try:
            value, end = parse(reader.text, pos)
            after = reader.skip_ws(end)
            if after < len(reader.text):
                return value, end
            raise _Incomplete
        except (ValueError, _Incomplete):
            if not reader.fill():
                raise _Incomplete from None


def iter_object_entries(path: str) -> Iterator[Tuple[str, Any, int, int]]:
    """Yield ``(key, value, start, length)`` for each entry of the JSON object in ``path``;
    ``start``/``length`` are the byte range of the entry's ``"key": value`` text.

    Raises:
        ManifestError: the file is not one JSON object (``PATH:LINE: invalid JSON: ...``) or not UTF-8.
    """
    decoder = json.JSONDecoder()
    try:
        with open(path, 'rb') as handle:
            reader = _Reader(handle)
            if handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:   # a byte-order mark is not data
                reader.mark_byte = len(codecs.BOM_UTF8)
            else:
                handle.seek(0)
            pos = reader.skip_ws(0)
            if reader.text[pos:pos + 1] != '{':
                raise _Incomplete
            pos = reader.skip_ws(pos + 1)
            if reader.text[pos:pos + 1] == '}':
                pos = reader.skip_ws(pos + 1)
            else:
                while True:
                    pos = reader.drop_before(pos)
                    if reader.text[pos:pos + 1] != '"':
                        raise _Incomplete
                    start = pos
                    key, pos = _token(reader, pos + 1, scanstring)
                    pos = reader.skip_ws(pos)
                    if reader.text[pos:pos + 1] != ':':
                        raise _Incomplete
                    value, pos = _token(reader, reader.skip_ws(pos + 1), decoder.raw_decode)
                    first = reader.byte_offset(start)
                    yield key, value, first, reader.byte_offset(pos) - first
                    pos = reader.skip_ws(pos)
                    delimiter = reader.text[pos:pos + 1]
                    pos = reader.skip_ws(pos + 1)
                    if delimiter == '}':
                        break
                    if delimiter != ',':
                        raise _Incomplete
            if pos < len(reader.text):
                raise _Incomplete
    except (_Incomplete, UnicodeDecodeError):
        _raise_exact_error(path)


def _raise_exact_error(path: str) -> None:
    try:
        with open(path, encoding='utf-8-sig') as handle:
            entries = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ManifestError(f'{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})') from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f'{path}: not UTF-8 ({exc.reason})') from None
    raise ManifestError(f'{path}: expected a JSON object mapping id -> entry, got {type(entries).__name__}')


def read_entry(fd: int, start: int, length: int) -> Tuple[str, Any]:
    """The ``(key, value)`` of the entry at a byte range given by :func:`iter_object_entries`."""
    text = os.pread(fd, length, start).decode('utf-8')
    (key, value), = json.loads('{' + text + '}').items()
    return key, value
