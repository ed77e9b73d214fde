from .base import Hook
from .checkpoint import CheckpointHook
from .collapse_monitor import CollapseMonitorHook
from .evaluation import EvaluationHook
from .harmonizer_warmup import HarmonizerWarmupHook
from .media_report import MediaReportHook
from .metrics_logger import MetricsLoggerHook
from .modality_weights import ModalityWeightHook
from .progress_bar import ProgressBarHook
from .run_summary import RunSummaryHook

__all__ = ['CheckpointHook', 'CollapseMonitorHook', 'EvaluationHook', 'HarmonizerWarmupHook', 'Hook', 'MediaReportHook',
           'MetricsLoggerHook', 'ModalityWeightHook', 'ProgressBarHook', 'RunSummaryHook']
