"""The outside sources of the emoji catalogue, each checked with an error that says what to install.

- Unicode's ``emoji-test.txt`` (Debian ``unicode-data``): code points, English names, groups, subgroups;
- the Noto Color Emoji font (Debian ``fonts-noto-color-emoji``): the pictures;
- ``espeak-ng`` (Debian ``espeak-ng``): the voice-overs;
- the PyPI ``emoji`` package (``pip install "m5mm[emoji]"``): names in other languages.
"""
from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from m5mm.utils.require import require

EMOJI_TEST_PATH = '/usr/share/unicode/emoji/emoji-test.txt'
FONT_PATH = '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf'
ESPEAK_COMMAND = 'espeak-ng'
FONT_PIXEL_SIZE = 109  # the only size of NotoColorEmoji's CBDT bitmaps
SKIN_TONES = frozenset(range(0x1F3FB, 0x1F400))


class MissingSourceError(FileNotFoundError):
    """A file or program the emoji catalogue is made from is not installed."""


@dataclass(frozen=True)
class EmojiEntry:
    """One fully-qualified emoji of ``emoji-test.txt``."""

    chars: str
    codepoints: Tuple[int, ...]
    name: str       # CLDR English short name, e.g. 'grinning face'
    group: str      # e.g. 'Smileys & Emotion'
    subgroup: str   # e.g. 'face-smiling'

    @property
    def sku(self) -> str:
        """The instance id: ``emoji-`` + the code points in hex, e.g. ``emoji-1f600``."""
        return 'emoji-' + '-'.join(f'{c:x}' for c in self.codepoints)


def _missing(what: str, path: str, package: str, option: str) -> MissingSourceError:
    return MissingSourceError(f'{what} not found ({path}): install the Debian package {package} '
                              f'(apt-get install {package}) or pass {option}=')


def _parse_line(line: str, group: str, subgroup: str) -> Optional[EmojiEntry]:
    codes, _, rest = line.partition(';')
    status, _, comment = rest.partition('#')
    if status.strip() != 'fully-qualified':
        return None
    codepoints = tuple(int(c, 16) for c in codes.split())
    if SKIN_TONES.intersection(codepoints):
        return None
    name = comment.split(maxsplit=2)[2].strip()   # '😀 E1.0 grinning face'
    return EmojiEntry(''.join(map(chr, codepoints)), codepoints, name, group, subgroup)


@functools.lru_cache(maxsize=4)
def read_emoji_test(path: str = EMOJI_TEST_PATH) -> Tuple[str, Tuple[EmojiEntry, ...]]:
    """The Unicode emoji version and the fully-qualified emoji without skin tones, in file order."""
    if not Path(path).is_file():
        raise _missing("Unicode's emoji-test.txt", path, 'unicode-data', 'emoji_test_path')
    version, group, subgroup, entries = '', '', '', []
    for line in Path(path).read_text(encoding='utf-8').splitlines():
        if line.startswith('# Version:'):
            version = line.split(':', 1)[1].strip()
        elif line.startswith('# group:'):
            group = line.split(':', 1)[1].strip()
        elif line.startswith('# subgroup:'):
            subgroup = line.split(':', 1)[1].strip()
        elif line.strip() and not line.startswith('#'):
            entry = _parse_line(line, group, subgroup)
            if entry is not None:
                entries.append(entry)
    if not entries:
        raise ValueError(f'{path} lists no fully-qualified emoji; is it Unicode\'s emoji-test.txt?')
    return version, tuple(entries)


@functools.lru_cache(maxsize=4)
def load_font(path: str = FONT_PATH):
    """The colour emoji font as a Pillow font (its bitmaps are ``FONT_PIXEL_SIZE`` pixels high)."""
    from PIL import ImageFont
    if not Path(path).is_file():
        raise _missing('the Noto Color Emoji font', path, 'fonts-noto-color-emoji', 'font_path')
    try:
        return ImageFont.truetype(path, size=FONT_PIXEL_SIZE)
    except OSError as exc:
        raise ValueError(f'{path} is not a colour bitmap emoji font with {FONT_PIXEL_SIZE}-pixel glyphs '
                         f'(NotoColorEmoji.ttf of fonts-noto-color-emoji): {exc}') from None


def find_espeak(command: str = ESPEAK_COMMAND) -> str:
    """The full path of the ``espeak-ng`` program."""
    found = shutil.which(command)
    if found is None:
        raise _missing('the espeak-ng speech synthesizer', command, 'espeak-ng', 'espeak_command')
    return found


def other_language_names(entries: Sequence[EmojiEntry], languages: Sequence[str]) -> Dict[str, Dict[str, str]]:
    """``{chars: {language: name}}`` from the ``emoji`` package, e.g. ``{'☕': {'es': 'bebida caliente'}}``;
    an emoji or language the package lacks is left out."""
    emoji = require('emoji', 'emoji')
    load_language = getattr(emoji.config, 'load_language', None)   # emoji >= 2.13 loads languages lazily
    if load_language is not None:
        load_language(list(languages))
    names: Dict[str, Dict[str, str]] = {}
    for entry in entries:
        data = emoji.EMOJI_DATA.get(entry.chars, {})
        names[entry.chars] = {lang: _readable(data[lang]) for lang in languages if data.get(lang)}
    return names


def aliases(entries: Sequence[EmojiEntry]) -> Dict[str, List[str]]:
    """``{chars: [alias, ...]}`` (the ``emoji`` package's GitHub-style short names, e.g. 'coffee')."""
    emoji = require('emoji', 'emoji')
    return {e.chars: [_readable(a) for a in emoji.EMOJI_DATA.get(e.chars, {}).get('alias', [])] for e in entries}


def _readable(short_name: str) -> str:
    """``':bebida_caliente:'`` -> ``'bebida caliente'``."""
    return short_name.strip(':').replace('_', ' ').strip()


def source_versions(*, emoji_test_path: str, espeak: str) -> Dict[str, str]:
    """Versions of the sources (the bytes written depend on them), for ``summary.json``."""
    import re
    import subprocess

    import PIL
    emoji = require('emoji', 'emoji')
    out = subprocess.run([espeak, '--version'], capture_output=True, text=True, check=False).stdout.strip()
    version = re.search(r'\d+(\.\d+)+', out)
    return {'unicode_emoji': read_emoji_test(emoji_test_path)[0], 'emoji_package': emoji.__version__,
            'espeak_ng': version.group(0) if version else out, 'pillow': PIL.__version__}
