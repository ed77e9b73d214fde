"""All m5mm registries, one line each (mmengine looks them up in this file).

``locations`` makes a registry import the package that fills it on first use, so a
config never needs a manual import. Optimizers and schedulers are children of mmengine's,
so every ``torch.optim`` optimizer is reachable from a config as well.
"""
from typing import Dict

from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import Registry

from m5mm.utils.build import build_with_hints

MODALITIES = Registry('modality', scope='m5mm', build_func=build_with_hints,
                      locations=['m5mm.datasets.modalities'])
ENCODERS = Registry('encoder', scope='m5mm', build_func=build_with_hints,
                    locations=['m5mm.models.encoders'])
FUSIONS = Registry('fusion', scope='m5mm', build_func=build_with_hints, locations=['m5mm.models.fusion'])
HARMONIZERS = Registry('harmonizer', scope='m5mm', build_func=build_with_hints,
                       locations=['m5mm.models.harmonizers'])
OBJECTIVES = Registry('objective', scope='m5mm', build_func=build_with_hints,
                      locations=['m5mm.models.objectives'])
NECKS = Registry('neck', scope='m5mm', build_func=build_with_hints, locations=['m5mm.models.necks'])
HEADS = Registry('head', scope='m5mm', build_func=build_with_hints, locations=['m5mm.models.heads'])
MODELS = Registry('model', scope='m5mm', build_func=build_with_hints, locations=['m5mm.models'])
DATASETS = Registry('dataset', scope='m5mm', build_func=build_with_hints, locations=['m5mm.datasets'])
TRANSFORMS = Registry('transform', scope='m5mm', build_func=build_with_hints,
                      locations=['m5mm.datasets.transforms'])
HOOKS = Registry('hook', scope='m5mm', build_func=build_with_hints, locations=['m5mm.engine.hooks'])
TASKS = Registry('task', scope='m5mm', build_func=build_with_hints, locations=['m5mm.evaluation.tasks'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='m5mm', build_func=build_with_hints,
                      locations=['m5mm.engine.optimizers'])
SCHEDULERS = Registry('scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='m5mm',
                      build_func=build_with_hints, locations=['m5mm.engine.schedulers'])
# Functions that write a synthetic catalogue (``generate_if_missing`` of a dataset): experiment code,
# imported only when a config asks for one.
CATALOGUES = Registry('catalogue', scope='m5mm', build_func=build_with_hints,
                      locations=['m5mm.experiments.catalogues'])


def all_registries() -> Dict[str, Registry]:
    """Every m5mm registry by its name (``'encoder'``, ``'fusion'``, ...)."""
    return {reg.name: reg for reg in (MODALITIES, ENCODERS, FUSIONS, HARMONIZERS, OBJECTIVES, NECKS, HEADS, MODELS,
                                      DATASETS, TRANSFORMS, HOOKS, TASKS, OPTIMIZERS, SCHEDULERS,
                                      CATALOGUES)}
