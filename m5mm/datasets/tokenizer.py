"""Word-piece tokenizers for titles and tables.

:class:`TextTokenizer` wraps a ``transformers.PreTrainedTokenizerFast``: it is loaded from a
local folder (for instance a BERT folder such as all-MiniLM-L6-v2) or trained on a dataset's
text with ``tokenizers`` (``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4``, lower-cased).
Loaded tokenizers are cached per folder.

Asked for at most ``max_tokens`` tokens, a tokenizer never reads more than ``max_tokens *``
:data:`CHARS_PER_TOKEN` characters of a text (cut at the last whitespace before that), so a huge
title costs no more than a long one; the ids of any text averaging fewer characters per token
than that are unchanged.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import re
from typing import Dict, Iterable, List, Optional

from m5mm.utils.pretrained_source import looks_like_path, resolve_pretrained

from .file_lock import file_lock

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
CHARS_PER_TOKEN = 64   # characters read per wanted token: word pieces average 3-6, a whole [UNK] word <= 101
_CACHE: Dict[str, 'TextTokenizer'] = {}
_LAST_WORD = re.compile(r'\s\S*\Z')


def cut_for_tokens(text: str, max_tokens: int) -> str:
    """The start of ``text`` that is enough for its first ``max_tokens`` tokens in any normal text:
    at most ``max_tokens * CHARS_PER_TOKEN`` characters, ended at the last whitespace within them (so
    no word is cut; a text without whitespace there is cut at the limit)."""
    limit = max(max_tokens, 0) * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = _LAST_WORD.search(head)
    return head[:space.start()] if space is not None and space.start() > 0 else head


class TextTokenizer:
    """A fast word-piece tokenizer with the ids m5mm needs.

    Args:
        tokenizer: a ``PreTrainedTokenizerFast`` with ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``
            and ``[MASK]`` tokens.
        path: the folder it was loaded from (kept so that pickled copies reload it).
    """

    def __init__(self, *, tokenizer, path: Optional[str] = None) -> None:
        self.tokenizer = tokenizer
        self.path = path
        backend = tokenizer.backend_tokenizer
        backend.no_padding()  # some saved tokenizers pad or truncate every call; m5mm does its own
        backend.no_truncation()
        self._backend = backend
        self.pad_id = self._special_id('pad_token_id', '[PAD]')
        self.unk_id = self._special_id('unk_token_id', '[UNK]')
        self.cls_id = self._special_id('cls_token_id', '[CLS]')
        self.sep_id = self._special_id('sep_token_id', '[SEP]')
        self.mask_id = self._special_id('mask_token_id', '[MASK]')

    def _special_id(self, attr: str, token: str) -> int:
        value = getattr(self.tokenizer, attr, None)
        if value is None:
            value = self._backend.token_to_id(token)
        if value is None:
            raise ValueError(f'tokenizer at {self.path} has no {token} token; m5mm needs '
                             f'{", ".join(SPECIAL_TOKENS)}')
        return int(value)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (including added special tokens)."""
        return len(self.tokenizer)

    def encode(self, text: str, *, max_tokens: Optional[int] = None) -> List[int]:
        """Token ids of ``text`` without special tokens; with ``max_tokens`` the first ones only, from
        at most ``max_tokens * CHARS_PER_TOKEN`` characters (see :func:`cut_for_tokens`)."""
        if max_tokens is None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self._backend.encode(cut_for_tokens(text, max_tokens), add_special_tokens=False).ids[:max_tokens]

    def encode_many(self, texts: List[str], *, max_tokens: Optional[int] = None) -> List[List[int]]:
        """Token ids of each text (batched), without special tokens; ``max_tokens`` as in :meth:`encode`."""
        if not texts:
            return []
        if max_tokens is None:
            return [enc.ids for enc in self._backend.encode_batch(texts, add_special_tokens=False)]
        texts = [cut_for_tokens(text, max_tokens) for text in texts]
        return [enc.ids[:max_tokens] for enc in self._backend.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` (special tokens kept)."""
        return self.tokenizer.decode(list(ids))

    def meta(self) -> Dict[str, int]:
        """``vocab_size`` and the special token ids, as ``dataset.meta['tokenizer']``."""
        return dict(vocab_size=self.vocab_size, pad_id=self.pad_id, cls_id=self.cls_id,
                    sep_id=self.sep_id, mask_id=self.mask_id, unk_id=self.unk_id)

    def __reduce__(self):  # workers reload from the folder (through the cache) instead of pickling
        if self.path is None:
            return (_wrap, (self.tokenizer,))
        return (load_tokenizer, (self.path,))


def _wrap(tokenizer) -> TextTokenizer:
    return TextTokenizer(tokenizer=tokenizer)


def load_tokenizer(path: str) -> TextTokenizer:
    """Load (once per process and folder) the tokenizer saved in folder ``path``, or of the hub model
    ``path`` (``'org/name'``, resolved through the Hugging Face cache like the towers' ``pretrained``)."""
    from transformers import PreTrainedTokenizerFast
    if os.path.isdir(path) or looks_like_path(path):
        key = os.path.abspath(path)
    else:
        key = resolve_pretrained(path, what='tokenizer')
    if key not in _CACHE:
        if not os.path.isfile(os.path.join(key, 'tokenizer.json')):
            raise FileNotFoundError(f'no tokenizer.json in {key}: give a folder saved by '
                                    f'`python tools/build_tokenizer.py` or a BERT-style model folder')
        _CACHE[key] = TextTokenizer(tokenizer=PreTrainedTokenizerFast.from_pretrained(key), path=key)
    return _CACHE[key]


def train_tokenizer(texts: Iterable[str], *, out_dir: str, vocab_size: int = 4000,
                    lowercase: bool = True, min_frequency: int = 1) -> TextTokenizer:
    """Train a WordPiece tokenizer on ``texts`` and save it to ``out_dir``.

    The special tokens get ids ``[PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4``. Chinese
    characters are split individually (BERT pre-tokenisation), so titles in any script work.
    The folder is written atomically, so concurrent processes never see half a tokenizer.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer(models.WordPiece(unk_token='[UNK]'))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase, clean_text=True,
                                                    handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        show_progress=False, special_tokens=list(SPECIAL_TOKENS))
    backend.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token='[PAD]', unk_token='[UNK]',
                                   cls_token='[CLS]', sep_token='[SEP]', mask_token='[MASK]',
                                   do_lower_case=lowercase)
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.tokenizer-', dir=parent)
    try:
        fast.save_pretrained(tmp)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    _CACHE.pop(out_dir, None)
    return load_tokenizer(out_dir)


def get_or_train_tokenizer(path: str, texts_fn, *, vocab_size: int = 4000,
                           lowercase: bool = True) -> TextTokenizer:
    """Load the tokenizer in ``path``, training it from ``texts_fn()`` first if it is absent.

    ``texts_fn`` is only called when training is needed. A lock file next to ``path`` makes
    concurrent processes (distributed ranks) train once and share the result.
    """
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, 'tokenizer.json')):
        return load_tokenizer(path)
    with file_lock(path.rstrip(os.sep) + '.lock'):
        if not os.path.isfile(os.path.join(path, 'tokenizer.json')):
            texts = list(texts_fn())
            if not texts:
                raise ValueError(f'cannot train a tokenizer for {path}: the training split has no text '
                                 f'or table values; give tokenizer=dict(path=...) of an existing one')
            logger.info('m5mm: training a WordPiece tokenizer (vocab %d) on %d texts -> %s',
                        vocab_size, len(texts), path)
            return train_tokenizer(texts, out_dir=path, vocab_size=vocab_size, lowercase=lowercase)
    return load_tokenizer(path)
