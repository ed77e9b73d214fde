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
    losses=dict(
        mlm=dict(type='MaskedLanguageModelLoss', modality='text'),
        mem=dict(type='MaskedEntityModelLoss', modality='table'),
        mfm_image=dict(type='MaskedFeatureRegressionLoss', modality='image'),
        mfm_video=dict(type='MaskedFeatureRegressionLoss', modality='video'),
        mfm_audio=dict(type='MaskedFeatureRegressionLoss', modality='audio'),
    ),
)
