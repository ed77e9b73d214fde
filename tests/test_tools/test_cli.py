"""The tools' shared command line: user errors as one line (exit 2), ``--debug`` for the traceback, and
``--help`` without importing torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from m5mm.utils import cli_choices
from m5mm.utils.cli import USER_ERROR_EXIT, tool_main
from m5mm.utils.config import ConfigError
from m5mm.utils.user_errors import is_user_error
from tests.conftest import REPO

TOOLS = sorted(p.name for p in (REPO / 'tools').glob('*.py') if not p.name.startswith('_'))   # _clone: a helper

_HELP_SCRIPT = '''
import contextlib, io, json, runpy, sys
out = {}
for name in sys.argv[1:]:
    sys.argv = [name, '--help']
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        try:
            runpy.run_path('tools/' + name, run_name='__main__')
        except SystemExit:
            pass
    out[name] = dict(torch='torch' in sys.modules, debug='--debug' in text.getvalue(), help=len(text.getvalue()))
print(json.dumps(out))
'''


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def test_help_of_every_tool_imports_no_torch_and_lists_debug():
    """``tools/X.py --help`` parses its arguments before any heavy import (issue 27: serve --help took 33 s)."""
    result = _run('-c', _HELP_SCRIPT, *TOOLS)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(report) == TOOLS
    assert {name for name, r in report.items() if r['torch']} == set()
    assert {name for name, r in report.items() if not r['debug'] or r['help'] < 200} == set()


def test_rerunning_training_in_a_used_work_dir_is_one_line(tmp_path):
    """The quick start run twice: the refusal is one line plus a hint, exit 2; --debug shows the traceback."""
    checkpoint = tmp_path / 'checkpoints' / 'step_00000005'
    checkpoint.mkdir(parents=True)
    (checkpoint / 'meta.json').write_text('{}')
    argv = ['tools/train.py', 'configs/scale_5mod_tiny.py', '--work-dir', str(tmp_path)]
    plain = _run(*argv)
    assert plain.returncode == USER_ERROR_EXIT
    lines = plain.stderr.strip().splitlines()
    assert 'Traceback' not in plain.stderr
    assert lines[-2].startswith('train.py: error: work dir ') and 'Continue it with --resume' in lines[-2]
    assert lines[-1] == '(add --debug for the traceback)'
    assert not any('Traceback' in line or 'File "' in line for line in lines)
    debug = _run(*argv, '--debug')
    assert debug.returncode != 0
    assert 'Traceback (most recent call last)' in debug.stderr and 'ConfigError: work dir' in debug.stderr


@tool_main
def _tool(argv=None):
    """A tool whose ``main`` runs ``argv[0]`` as a callable's name in this module."""
    return globals()[argv[0]]()


def _config_error():
    raise ConfigError('custom_hooks cannot be given as an override; edit the config')


def _m5mm_value_error():
    from m5mm.experiments.paper_tables.budget import Budget
    return Budget.parse('epochs')                  # a ValueError raised on purpose by m5mm


def _unknown_type():
    from m5mm.registry import HOOKS
    from m5mm.utils.build import build_with_hints
    return build_with_hints(dict(type='NoSuchHook'), HOOKS)


def _missing_file():
    with open('/nonexistent/m5mm/file.json'):
        pass


def _builtin_value_error():
    return int('not a number')                     # Python's own ValueError: a bug, not the user's


def _dict_key_error():
    return {}['missing']


def _runtime_error():
    raise RuntimeError('shape mismatch')


@pytest.mark.parametrize('name, needle', [('_config_error', 'custom_hooks cannot be given'),
                                          ('_m5mm_value_error', '--budget must be epochs=N'),
                                          ('_unknown_type', 'NoSuchHook'),
                                          ('_missing_file', 'No such file')])
def test_a_user_error_ends_with_one_line_and_status_2(name, needle, capsys):
    with pytest.raises(SystemExit) as info:
        _tool([name])
    assert info.value.code == USER_ERROR_EXIT
    assert needle in str(info.value)
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    assert err.startswith('test_cli.py: error: ') and needle in err
    assert err.rstrip().endswith('\n(add --debug for the traceback)')
    assert not str(info.value).startswith('error: "')        # a KeyError's message without repr quotes


@pytest.mark.parametrize('name, exc_type', [('_builtin_value_error', ValueError), ('_dict_key_error', KeyError),
                                            ('_runtime_error', RuntimeError)])
def test_an_internal_error_keeps_its_traceback(name, exc_type):
    with pytest.raises(exc_type):
        _tool([name])


def test_debug_shows_the_original_exception():
    with pytest.raises(ConfigError, match='custom_hooks'):
        _tool(['_config_error', '--debug'])


def test_is_user_error_names_the_library_error_types():
    from m5mm.checkpoint.safe_load import CheckpointError
    from m5mm.api.model_folder import ModelFolderError
    from m5mm.datasets.errors import MediaError
    from m5mm.datasets.shards.layout import ShardIndexError
    for exc in (CheckpointError('x'), ModelFolderError('x'), MediaError('missing file'), ShardIndexError('x'),
                FileExistsError('x')):
        assert is_user_error(exc), exc
    assert not is_user_error(ValueError('raised where nobody can tell'))


def test_the_help_choices_mirror_the_library():
    """cli_choices keeps torch out of ``--help``; these are the values the library uses."""
    from m5mm.api.export import ROBUSTNESS
    from m5mm.datasets.tokenizer import CHARS_PER_TOKEN
    from m5mm.evaluation.evaluate import ALL_TASKS, CLASSIFICATION_SOURCES
    from m5mm.evaluation.tasks import named_tasks
    from m5mm.evaluation.feature_cache import DTYPES
    from m5mm.evaluation.features import KINDS
    from m5mm.experiments.paper_tables import SIZES
    from m5mm.experiments.paper_tables.methods import DEFAULT_METHODS
    from m5mm.experiments.tiny_pretrained.models import FAMILIES
    from m5mm.models.pretrained.packaged import PACKAGED
    from m5mm.serve import app, request_limits
    assert cli_choices.FEATURE_KINDS == KINDS
    assert cli_choices.CLASSIFICATION_SOURCES == CLASSIFICATION_SOURCES
    assert cli_choices.DEFAULT_TASKS == ALL_TASKS
    assert sorted(cli_choices.TASK_NAMES) == sorted(named_tasks())
    assert cli_choices.CACHE_DTYPES == DTYPES
    assert cli_choices.ROBUSTNESS == ROBUSTNESS
    assert cli_choices.CHARS_PER_TOKEN == CHARS_PER_TOKEN
    assert cli_choices.TABLE_PAIRS_PER_TOKEN == request_limits.TABLE_PAIRS_PER_TOKEN
    assert cli_choices.DEFAULT_MAX_MEDIA_BYTES == request_limits.DEFAULT_MAX_MEDIA_BYTES
    assert cli_choices.DEFAULT_MAX_IMAGE_PIXELS == request_limits.DEFAULT_MAX_IMAGE_PIXELS
    assert cli_choices.DEFAULT_MAX_BATCH == app.DEFAULT_MAX_BATCH
    assert cli_choices.DEFAULT_MAX_WAIT_MS == app.DEFAULT_MAX_WAIT_MS
    assert cli_choices.BENCHMARK_METHODS == DEFAULT_METHODS
    assert sorted(cli_choices.CONFIG_SIZES) == sorted(SIZES)
    assert cli_choices.PACKAGED_MODELS == tuple(PACKAGED)
    assert cli_choices.TINY_FAMILIES == tuple(FAMILIES)
