"""--cfg-options parsing: mmengine's value syntax, dict(...) values (mmengine's DictAction recursed without end
on them), and one-line errors for malformed items."""
import argparse

import pytest

from m5mm.utils.cfg_options import parse_option_value, split_top_level
from m5mm.utils.cli import add_cfg_options
from m5mm.utils.config import load_config
from tests.conftest import REPO


def parse(*items):
    parser = argparse.ArgumentParser(prog='tool')
    add_cfg_options(parser)
    return parser.parse_args(['--cfg-options', *items]).cfg_options


@pytest.mark.parametrize('text, value', [
    ('2', 2), ('1e-3', 1e-3), ('true', True), ('False', False), ('None', None), ('bf16', 'bf16'),
    ('[text,image]', ['text', 'image']), ('[ text, image ]', ['text', 'image']), ('(1,2)', (1, 2)),
    ('a,b', ['a', 'b']), ('[]', []), ('[(1, 2), [a, b], c]', [(1, 2), ['a', 'b'], 'c']),
    ("'a photo of {}'", 'a photo of {}'),
    ('dict(type=per_group,k=2)', {'type': 'per_group', 'k': 2}),
    ('[dict(type=HarmonizerWarmupHook,fraction=0.5)]', [{'type': 'HarmonizerWarmupHook', 'fraction': 0.5}]),
    ('dict(a=dict(b=[1,2]),c=None)', {'a': {'b': [1, 2]}, 'c': None}),
    ('dict()', {}),
])
def test_values(text, value):
    assert parse_option_value(text) == value
    assert type(parse_option_value(text)) is type(value)


def test_split_top_level_keeps_nested_commas():
    assert split_top_level('a, [b, c], dict(d=1, e=(2, 3))') == ['a', '[b, c]', 'dict(d=1, e=(2, 3))']
    with pytest.raises(ValueError, match='pair up'):
        split_top_level('[a, (b]')


def test_items_merge_across_uses():
    parser = argparse.ArgumentParser(prog='tool')
    add_cfg_options(parser)
    args = parser.parse_args(['--cfg-options', 'a=1', 'b.c=[x]', '--cfg-options', 'a=2'])
    assert args.cfg_options == {'a': 2, 'b.c': ['x']}


@pytest.mark.parametrize('item, message', [
    ('max_epochs', "'max_epochs' is not key=value"),
    ('=3', "'=3' is not key=value"),
    ('model.x=[dict(a=1]', 'model.x: brackets do not pair up'),
    ('hooks=[dict(1)]', "hooks: dict\\(...\\) takes key=value items; got '1'"),
])
def test_malformed_items_are_one_line_errors(item, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(item)
    assert exit_.value.code == 2
    assert message.replace('\\', '') in capsys.readouterr().err


def test_a_hook_added_from_the_command_line_reaches_the_config():
    """The override that mmengine's DictAction could not read: a list of hook dicts, into a shipped config."""
    options = parse('custom_hooks=[dict(type=HarmonizerWarmupHook,fraction=0.25)]', 'train_cfg.max_epochs=1')
    cfg = load_config(str(REPO / 'configs' / 'scale_5mod_packaged.py'), options)
    assert cfg.custom_hooks == [dict(type='HarmonizerWarmupHook', fraction=0.25)]
    assert cfg.train_cfg.max_epochs == 1
