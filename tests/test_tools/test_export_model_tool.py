"""tools/export_model.py: by default one evaluation for the card (no robustness passes), announced and logged."""
from __future__ import annotations

import json
import logging

import pytest

from tests.script_module import load_script


def _tool():
    return load_script('tools/export_model.py')


@pytest.fixture()
def m5mm_log(caplog):
    """caplog's records of the ``m5mm`` logger (which does not propagate to the root logger)."""
    logger = logging.getLogger('m5mm')
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_default_export_runs_no_robustness_pass_and_logs_each_feature_pass(tiny_work_dir, tmp_path, m5mm_log):
    tool = _tool()
    assert tool.parse_args(['RUN', '--out', 'DIR']).robustness == 'none'
    tool.main([str(tiny_work_dir), '--out', str(tmp_path / 'model'), '--tasks', 'retrieval'])
    evaluation = json.loads((tmp_path / 'model' / 'evaluation.json').read_text())
    assert evaluation['robustness'] == [] and 'retrieval_coarse' in evaluation['results']
    messages = [r.getMessage() for r in m5mm_log.records]
    assert any(m.startswith('evaluating for the model card on ') and 'retrieval, then 0 robustness pass' in m
               for m in messages), messages
    passes = [m for m in messages if m.startswith('features of the ')]
    assert [m.split(':')[0] for m in passes] == ['features of the query split', 'features of the gallery split']
    assert not [m for m in messages if m.startswith('robustness ')]


def test_robustness_rows_are_numbered(tiny_work_dir, tmp_path, m5mm_log):
    _tool().main([str(tiny_work_dir), '--out', str(tmp_path / 'model'), '--tasks', 'retrieval',
                  '--robustness', 'text;image,text'])
    messages = [r.getMessage() for r in m5mm_log.records if r.getMessage().startswith('robustness ')]
    assert messages == ['robustness 1/2: retrieval with text present',
                        'robustness 2/2: retrieval with image+text present']
