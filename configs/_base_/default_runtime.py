# Runtime defaults shared by every training config.
default_scope = 'm5mm'
seed = 0
deterministic = False
# 'auto': the launcher's --mixed_precision if set, else bf16 where it is native (recent GPUs; CPUs with
# AVX-512 or AMX, 2.6x faster than fp32 there) and fp32 elsewhere (AVX2-only CPUs emulate bf16, an order
# of magnitude slower). 'no' (fp32), 'bf16' or 'fp16' (GPU only) force a precision.
precision = 'auto'
# Hooks by name: a leaf config changes one (default_hooks = dict(checkpoint=dict(max_keep=5))) or drops
# it (modality_weights=None); extra hooks go in custom_hooks = [...].
default_hooks = dict(
    metrics=dict(type='MetricsLoggerHook', interval=5),
    progress=dict(type='ProgressBarHook'),
    summary=dict(type='RunSummaryHook'),
    modality_weights=dict(type='ModalityWeightHook'),
    collapse=dict(type='CollapseMonitorHook', cos_threshold=0.95),  # warns when a modality's embeddings stay collapsed
    media_report=dict(type='MediaReportHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, max_keep=2),
    evaluation=dict(type='EvaluationHook', tasks=('retrieval',)),  # prints the query-set mAP at the end
)
# Experiment trackers (Accelerate): 'tensorboard' (offline, WORK_DIR/trackers), 'wandb', 'mlflow', 'aim',
# a list of them, or None. tracker_cfg = dict(project_name=..., init_kwargs=dict(wandb=dict(...))).
log_with = 'tensorboard'
