# CAPTURE-style hybrid fusion (the M5Product authors' Product1M model) on SCALE's small towers:
# per-modality transformer layers, then single-stream cross-modal layers, trained with the
# all-pairs contrastive loss + the masked tasks (no harmonizer). For SCALE's parameter budget the
# towers keep one layer (the fusion's per-modality layer takes the place of the second) and the
# fusion blocks have a 3x feed-forward (five per-modality blocks + one cross-modal block).
_base_ = './scale_small.py'
model = dict(
    type='MultiModalPretrainer',
    encoders=dict(image=dict(depth=1), text=dict(num_layers=1), audio=dict(depth=1)),
    fusion=dict(_delete_=True, type='HybridFusion', dim={{_base_.dim}}, intra_depth=1, depth=1, num_heads=4,
                mlp_ratio=3.0),
    harmonizer=None,
    objectives=dict(
        con=dict(type='InterModalityContrastiveObjective'),
        mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
        mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm'),
        mfm_image=dict(type='MaskedFeatureRegressionObjective', modality='image'),
        mfm_video=dict(type='MaskedFeatureRegressionObjective', modality='video'),
        mfm_audio=dict(type='MaskedFeatureRegressionObjective', modality='audio'),
    ),
)
