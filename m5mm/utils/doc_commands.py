"""The shell commands of a Markdown file's ```bash blocks (the README's quick start, the docs' recipes)."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import List, Optional

_FENCE = re.compile(r'^```(\w*)\s*$')
_MARKER = re.compile(r'^<!--\s*([\w-]+)\s*-->\s*$')


@dataclass
class DocCommand:
    """One step of a command line (``a && b`` gives two), with where it was written.

    Attributes:
        text: the step as written (comment and line continuations removed).
        argv: ``shlex`` words of ``text``.
        path, line: the Markdown file and the 1-based line of the command in it.
        section: the heading above the block; marker: an HTML comment right above the block
            (``<!-- test-command -->`` gives ``'test-command'``), else None.
    """

    text: str
    argv: List[str]
    path: str
    line: int
    section: str = ''
    marker: Optional[str] = None


def _lines(block: List[str], first: int):
    """(line number, logical line) of a block: ``\\`` continuations and indented ``[--option]`` lines of a
    usage synopsis joined, blank lines dropped."""
    logical: List[list] = []
    pending = ''
    for number, line in enumerate(block, first):
        if logical and not pending and re.match(r'\s+\[', line):   # an indented usage continuation: [--opt X]
            logical[-1][1] += ' ' + line.strip()
            continue
        if not pending:
            logical.append([number, ''])
        if line.rstrip().endswith('\\'):
            pending = logical[-1][1] = logical[-1][1] + line.rstrip()[:-1] + ' '
            continue
        logical[-1][1] = (logical[-1][1] + line).strip()
        pending = ''
    return [(number, text) for number, text in logical if text]


def split_steps(line: str) -> List[str]:
    """``a && b; c # note`` -> ``['a', 'b', 'c']`` (quotes respected, a trailing comment dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=';&|')
    lexer.whitespace_split = True
    lexer.commenters = '#'
    steps, words = [], []
    for word in lexer:
        if word in ('&&', ';', '||'):
            steps.append(words)
            words = []
        else:
            words.append(word)
    steps.append(words)
    return [shlex.join(w) for w in steps if w]


def doc_commands(path: str, *, languages=('bash', 'sh', 'shell')) -> List[DocCommand]:
    """Every command step of the fenced blocks in ``languages`` of the Markdown file ``path``."""
    with open(path, encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    out: List[DocCommand] = []
    section, marker, block, language, start = '', None, None, '', 0
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if block is None:
            if fence:
                block, language, start = [], fence.group(1), number + 1
            elif line.startswith('#'):
                section, marker = line.lstrip('#').strip(), None
            elif _MARKER.match(line):
                marker = _MARKER.match(line).group(1)
            elif line.strip():
                marker = None
            continue
        if not line.startswith('```'):
            block.append(line)
            continue
        if language in languages:
            for at, text in _lines(block, start):
                out.extend(DocCommand(text=step, argv=shlex.split(step), path=path, line=at, section=section,
                                      marker=marker) for step in split_steps(text))
        block, marker = None, None
    return out
