"""A task declares its ``--tasks`` name, the test-data splits it reads and the feature sets it scores: registering
it is all it takes to run it by name (no preset table), and every entry point validates task names one way."""
import pytest

from m5mm.evaluation.evaluate import evaluate_features
from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
from m5mm.evaluation.tasks import TaskResult, check_tasks, named_tasks
from m5mm.registry import TASKS
from m5mm.utils.config import load_config
from tests.conftest import REPO


class ProductCountTask:
    """Counts the products of the test features (a plugin's task)."""

    task_name = 'product_count'
    data_splits = ('query', 'gallery')
    inputs = ('test',)

    def __call__(self, features_by_split) -> TaskResult:
        return TaskResult({'product_count': {'products': float(len(features_by_split['test']['ids']))}})


@pytest.fixture()
def registered():
    TASKS.register_module(name='PluginProductCount', module=ProductCountTask, force=True)   # not its class name
    yield
    TASKS.module_dict.pop('PluginProductCount', None)


def test_the_built_in_tasks_declare_their_splits_and_inputs():
    tasks = named_tasks()
    assert set(tasks) == {'retrieval', 'classification', 'clustering', 'zero_shot', 'text_retrieval', 'presence',
                          'partial_query'}
    assert tasks['classification'].data_splits == ('train', 'query', 'gallery')
    assert tasks['text_retrieval'].data_splits == ('gallery',)
    assert 'category_prompts' in tasks['zero_shot'].inputs and 'partial_queries' in tasks['partial_query'].inputs


def test_a_registered_task_runs_by_its_name(registered, demo_root):
    cfg = load_config(str(REPO / 'configs' / 'scale_5mod_tiny.py'),
                      {'data_root': str(demo_root), 'test_dataloader.num_workers': 0})
    model = build_model_for_eval(cfg).eval()
    results, _, features = evaluate_features(model, cfg, tasks=['product_count'])
    assert results == {'product_count': {'products': float(len(features['query']['ids']) +
                                                           len(features['gallery']['ids']))}}
    assert 'train' not in features   # declared inputs only


def test_one_validation_of_task_names(registered):
    assert check_tasks(['product_count', 'retrieval']) == [ProductCountTask, named_tasks()['retrieval']]
    with pytest.raises(ValueError, match=r"EvaluationHook: unknown tasks \['retrival'\]; choose from .*'retrieval'"):
        check_tasks(['retrival'], where='EvaluationHook')
    with pytest.raises(ValueError, match='classification must be one of'):
        check_tasks(['classification'], classification='logit')
