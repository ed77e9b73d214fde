"""Every command of README.md's and docs/*.md's ```bash blocks runs as written.

All of them: the scripts and configs they name exist, and each tools/ or benchmarks/ command parses with
its own argument parser (a usage synopsis with ``[--option X]``: its options exist). The cheap ones
(EXECUTED) also run, in a fresh folder whose ``data/demo`` is a small demo catalogue, shrunk where noted;
the rest are in NOT_EXECUTED with the reason.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from m5mm.utils.doc_commands import DocCommand, doc_commands
from tests.script_module import load_script

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]

# Commands that are not Python scripts of this repository: why the test does not run them.
OTHER_PROGRAMS = {
    'python3': 'creates the virtual environment (the test runs inside one)',
    '.': 'activates the virtual environment',
    'pip': 'installs packages (the test environment is installed)',
    'accelerate': 'launches several processes or nodes (tests/test_engine/test_distributed.py covers 2 CPU processes)',
    'srun': 'SLURM multi-node launch',
    'export': 'sets a variable of a SLURM launch',
    'git': 'clones the repository',
    'cd': 'changes into the clone',
    'apt-get': 'installs system packages',
    'curl': 'queries a running service (tests/test_serve covers the requests)',
}
# python commands executed here, by their text in the docs, with the arguments appended to shrink them.
TRAIN_SMALL = ['--max-steps', '1', '--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=4',
               'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
               'log_with=None', 'default_hooks.progress=None', 'default_hooks.evaluation=None']
EXECUTED: Dict[str, List[str]] = {
    'python tools/train.py configs/scale_5mod_small.py': TRAIN_SMALL,
    'python tools/export_model.py work_dirs/scale_5mod_small --out work_dirs/models/demo': ['--tasks', 'retrieval'],
    'python tools/build_index.py work_dirs/models/demo --data-root data/demo --out work_dirs/indexes/demo':
        ['--split', 'gallery'],
    'python tools/list_modules.py encoder fusion': [],
    'python tools/list_modules.py --plugins --strict': [],
    'python tools/inspect_dataset.py data/demo --plot work_dirs/coverage.png': [],
    'python tools/make_shards.py data/demo --out data/demo_shards --workers 2': ['--workers', '1'],
}
# The other python commands are checked (exist, parse) but not run; the first key found in a command gives why.
NOT_EXECUTED = {
    'tools/serve.py': 'a server that runs until stopped: benchmarks/quickstart_time.py starts it, waits for the page',
    '--preprocess all --config': 'preprocesses every medium (a minute here); tests/test_datasets/'
                                 'test_shards_from_folder.py builds and trains that recipe with the tiny config',
    '/data/': "a user's catalogue",
    **dict.fromkeys(('data/emoji', 'demo_packaged', 'search_page_queries.py', '--out data/demo/features'),
                    'the real-tower search page recipe (docs/inference.md, minutes a step on real towers): '
                    'tests/test_search_page_queries.py covers the benchmark\'s parts, tests/test_configs.py builds '
                    'configs/scale_5mod_packaged_cached.py, tests/test_serve/test_page.py drives the page'),
    '$SLURM': 'one job of a SLURM array',
    'pytest': 'the test suite itself',
    'tools/benchmark.py': 'trains several methods and seeds (tests/test_tools/test_benchmark.py runs it small)',
    'benchmarks/presence_diagnosis.py': 'reads the trained cells of the benchmark run above '
                                        '(tests/test_engine/test_partial_queries.py covers the tasks it runs)',
    'benchmarks/presence_decomposition.py': 'trains a benchmark cell on the packaged towers (minutes; '
                                            'tests/test_models/test_subset_consistency.py covers the neck it reads)',
    'benchmarks/real_towers.py': 'trains rows x catalogues x seeds on the packaged towers '
                                 '(tests/test_real_towers_configs.py resolves every row config)',
    'benchmarks/catalogue_contrastive.py': 'trains variants x seeds (tiny model: 1,500-product catalogues; --config: '
                                           'the real towers), about an hour of one core; tests/test_models and '
                                           'tests/test_datasets cover the loss, samplers and hard negatives, '
                                           'tests/test_catalogue_contrastive_real_towers.py the --config cells',
    'benchmarks/contrastive_gradient_probe.py': 'builds the real-tower model and runs it forward on 3 batches '
                                                '(needs the packaged towers); tests/test_models cover the loss forms',
    'tools/make_catalogue.py': 'draws hundreds of products (tests/test_datasets cover the generators)',
    'custom_hooks=[dict(': 'trains on the packaged towers (minutes); tests/test_utils/test_cfg_options.py loads '
                           'this override into the config',
    'tools/make_demo_data.py': 'writes the 400-product catalogue (the fixture here makes a small one the same way)',
    'scale_5mod.py': 'the paper-size model (224 M parameters, seconds per sample on a CPU)',
    'work_dirs/scale_5mod ': 'needs the paper-size model trained',
    'models/scale_5mod': 'needs the paper-size model trained',
    'gallery.npz': 'needs the features of the paper-size model',
    'configs/fusion/': 'a full training run; tests/test_configs.py builds every shipped config',
    'configs/classification/': 'a full training run; tests/test_configs.py builds every shipped config',
    'pretrained': 'pretrained towers: tests/test_models and tests/test_engine train the tiny ones',
    'configs/frozen_concat_packaged': 'needs the packaged towers written (tools/import_packaged_weights.py); '
                                      'tests/test_models/test_frozen_concat.py evaluates it as tools/test.py does',
    'merged.pt': 'follows the pretrained tiny run above',
    'tools/train.py configs/scale_5mod_small.py': 'the quick start, run above (shrunk)',
    'tools/export_vector_db.py': 'writes a Milvus collection: tests/test_serve/test_vector_db.py exports the test '
                                 'index the same way (export_catalogue) and searches it',
    'benchmarks/serve_batching.py': 'two services under load for minutes (the batched = unbatched check is '
                                    'tests/test_serve/test_combined_queries.py)',
    'benchmarks/vector_db.py': 'inserts and searches up to a million vectors (tests/test_serve/test_vector_db.py '
                               'covers the adapter)',
    'configs/scale_2mod_tiny_matryoshka.py': 'the two training runs of the Matryoshka table (minutes each); '
                                             'tests/test_models/test_matryoshka.py trains the objective a step',
    'benchmarks/matryoshka_dims.py': 'reads the two trained runs of the Matryoshka table',
}


def _is_synopsis(command: DocCommand) -> bool:
    """A usage synopsis (``[--option X]`` words) rather than a command to type."""
    return any(word.startswith('[') for word in command.argv)


def _all_commands() -> List[DocCommand]:
    out = []
    for path in DOCS:
        variables: Dict[str, str] = {}
        for command in doc_commands(str(path)):
            assignment = re.match(r'^(\w+)=(.*)$', command.text) or re.match(r"^'(\w+)=(.*)'$", command.text)
            if assignment and len(command.argv) == 1:
                variables[assignment.group(1)] = command.argv[0].split('=', 1)[1]
                continue
            text = re.sub(r"'\$(\w+)'", lambda m: variables.get(m.group(1), m.group(0)), command.text)  # '$R'
            text = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), text)  # '$O.key=value'
            out.append(DocCommand(text=text, argv=shlex.split(text), path=command.path, line=command.line,
                                  section=command.section, marker=command.marker))
    return out


COMMANDS = _all_commands()
SCRIPTS = [c for c in COMMANDS if c.argv[0] == 'python' and c.argv[1].endswith('.py')]


def _where(command: DocCommand) -> str:
    return f'{Path(command.path).relative_to(REPO)}:{command.line}: {command.text}'


class _Parser(Exception):
    pass


def _load_tool(script: str):
    return load_script(script)


def _parser_of(script: str) -> argparse.ArgumentParser:
    """The argument parser a tool builds (caught at its first parse_args call)."""
    module = _load_tool(script)

    def catch(self, *args, **kwargs):
        raise _Parser(self)

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = catch
    try:
        (getattr(module, 'parse_args', None) or module.main)([])
    except _Parser as caught:
        return caught.args[0]
    finally:
        argparse.ArgumentParser.parse_args = original
    raise AssertionError(f'{script} parsed no arguments')


def _option_strings(parser: argparse.ArgumentParser) -> set:
    names = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= _option_strings(sub)
    return names


def test_every_command_is_a_known_program_or_a_script_of_the_repository():
    assert len(SCRIPTS) > 60
    unknown = [_where(c) for c in COMMANDS if c.argv[0] != 'python' and c.argv[0] not in OTHER_PROGRAMS]
    assert not unknown, unknown
    module_runs = [c for c in COMMANDS if c.argv[0] == 'python' and not c.argv[1].endswith('.py')]
    assert all(c.argv[1:3] == ['-m', 'pytest'] for c in module_runs), [_where(c) for c in module_runs]


def test_named_scripts_and_configs_exist():
    missing = []
    for command in COMMANDS:
        for word in command.argv:
            if re.match(r'^(tools|benchmarks|configs)/[\w./-]+\.(py|yaml|json)$', word) and not (REPO / word).is_file():
                missing.append(f'{word} ({_where(command)})')
    assert not missing, missing


def test_each_script_command_parses_with_the_scripts_parser():
    parsers, failures = {}, []
    for command in SCRIPTS:
        script = command.argv[1]
        if script not in parsers:
            parsers[script] = _parser_of(script)
        parser, args = parsers[script], command.argv[2:]
        if _is_synopsis(command):   # a usage synopsis: its options exist
            used = {w.strip('[]').split('=')[0] for w in args if w.strip('[]').startswith('--')}
            failures += [f'{flag} unknown: {_where(command)}' for flag in sorted(used - _option_strings(parser))]
            continue
        with contextlib.redirect_stderr(sys.stdout):
            try:
                parser.parse_args(args)
            except SystemExit:
                failures.append(f'does not parse: {_where(command)}')
    assert not failures, '\n'.join(failures)


def test_the_executed_and_skipped_lists_name_documented_commands():
    texts = {c.text for c in SCRIPTS}
    assert not set(EXECUTED) - texts, set(EXECUTED) - texts
    unexplained = [_where(c) for c in SCRIPTS if c.text not in EXECUTED and not _has_placeholder(c)
                   and not any(key in c.text + ' ' for key in NOT_EXECUTED)]
    assert not unexplained, '\n'.join(unexplained)


def _has_placeholder(command: DocCommand) -> bool:
    return _is_synopsis(command) or any(w.isupper() and len(w) > 2 for w in command.argv)


@pytest.fixture()
def fresh_folder(tmp_path, monkeypatch, demo_root):
    """A new folder as a clone would be: configs/ linked, data/demo a small demo catalogue."""
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_cheap_documented_commands_run_in_order(fresh_folder):
    for text, extra in EXECUTED.items():
        argv = shlex.split(text)
        _load_tool(argv[1]).main(argv[2:] + extra)
    card = json.loads((fresh_folder / 'work_dirs' / 'models' / 'demo' / 'evaluation.json').read_text())
    assert 0 <= card['results']['retrieval_coarse']['mAP@1'] <= 1
    assert json.loads((fresh_folder / 'work_dirs' / 'indexes' / 'demo' / 'catalogue.json').read_text())
    assert (fresh_folder / 'work_dirs' / 'coverage.png').stat().st_size > 1000
    assert (fresh_folder / 'data' / 'demo_shards' / 'index.json').is_file()
