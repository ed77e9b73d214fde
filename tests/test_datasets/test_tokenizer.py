"""Tokenizer training, saving, loading (including the MiniLM BERT folder) and caching."""
import os
import pickle
import threading

import pytest

from m5mm.datasets.tokenizer import (SPECIAL_TOKENS, get_or_train_tokenizer, load_tokenizer,
                                     train_tokenizer)

TEXTS = ['Red cotton T-shirt', 'Blue denim jeans', 'red wool sweater', '红色 棉 T恤', 'brand', 'Acme']


def test_trained_tokenizer_ids_lowercase_and_roundtrip(tmp_path):
    tok = train_tokenizer(TEXTS * 3, out_dir=str(tmp_path / 'tok'), vocab_size=120)
    assert tok.meta() == dict(vocab_size=tok.vocab_size, pad_id=0, cls_id=2, sep_id=3, mask_id=4, unk_id=1)
    assert [tok.tokenizer.convert_ids_to_tokens(i) for i in range(5)] == list(SPECIAL_TOKENS)
    assert 5 < tok.vocab_size <= 120
    assert tok.encode('RED Cotton') == tok.encode('red cotton')
    assert tok.decode(tok.encode('red cotton')) == 'red cotton'
    assert tok.unk_id not in tok.encode('红色')  # Chinese characters are split, each in the vocabulary
    assert tok.encode_many(['red', 'blue']) == [tok.encode('red'), tok.encode('blue')]
    assert sorted(os.listdir(tmp_path)) == ['tok']  # no temporary folders left
    assert load_tokenizer(str(tmp_path / 'tok')) is tok  # cached per folder


def test_minilm_folder_loads_with_bert_ids(minilm_dir):
    tok = load_tokenizer(minilm_dir)
    assert tok.meta() == dict(vocab_size=30522, pad_id=0, cls_id=101, sep_id=102, mask_id=103, unk_id=100)
    ids = tok.encode('Red cotton T-shirt')
    assert len(ids) == 5  # the saved tokenizer's padding to 128 is disabled
    assert tok.decode(ids) == 'red cotton t - shirt'


def test_pickled_tokenizer_reloads_from_its_folder(tokenizer_dir):
    tok = load_tokenizer(tokenizer_dir)
    copy = pickle.loads(pickle.dumps(tok))
    assert copy is tok  # same process: the cache answers
    assert copy.encode('red cotton') == tok.encode('red cotton')


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no tokenizer.json'):
        load_tokenizer(str(tmp_path / 'nothing'))


def test_get_or_train_trains_once_under_concurrency(tmp_path):
    calls = []

    def texts():
        calls.append(1)
        return TEXTS

    path = str(tmp_path / 'shared' / 'tokenizer')
    results = []

    def work():
        results.append(get_or_train_tokenizer(path, texts, vocab_size=60))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(calls) == 1
    assert get_or_train_tokenizer(path, texts).vocab_size == results[0].vocab_size and len(calls) == 1
    with pytest.raises(ValueError, match='no text'):
        get_or_train_tokenizer(str(tmp_path / 'empty'), lambda: [])
