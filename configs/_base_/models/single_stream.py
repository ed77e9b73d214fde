# Single-stream fusion (VisualBERT / VL-BERT style) on SCALE's small towers (scale_small.py): all
# modalities' tokens in one transformer with segment (modality-type) embeddings, trained with the
# masked tasks only (MLM on titles, MEM on tables, masked feature regression for image/video/audio);
# no contrastive loss, no harmonizer.
_base_ = './scale_small.py'
model = dict(
    type='MultiModalPretrainer',
    fusion=dict(_delete_=True, type='SingleStreamFusion', dim={{_base_.dim}}, depth=2, num_heads=4),
    harmonizer=None,
    projection=None,
    objectives=dict(
        mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
        mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm'),
        mfm_image=dict(type='MaskedFeatureRegressionObjective', modality='image'),
        mfm_video=dict(type='MaskedFeatureRegressionObjective', modality='video'),
        mfm_audio=dict(type='MaskedFeatureRegressionObjective', modality='audio'),
    ),
)
