# SCALE on real pretrained towers that install offline as Python packages (docs/pretrained.md, "Real towers
# from packages"): image and video through ImageNet EfficientNet-Lite0 (frozen; video: the same model on every
# frame, then trainable temporal layers), title and table through all-MiniLM-L6-v2 with LoRA adapters, audio
# through the from-scratch AudioMelEncoder (no packaged audio model fits). Fusion and heads at the small width.
#
# Write the model folders once (no hub, no pickles), then train:
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/train.py configs/scale_5mod_packaged.py --cfg-options data_root=/path/to/catalogue
# The frozen image / video towers can run once instead of every epoch:
#   python tools/cache_features.py configs/scale_5mod_packaged.py --out /path/to/catalogue/features
_base_ = ['_base_/models/scale_small.py', '_base_/datasets/demo_5mod_packaged.py',
          '_base_/schedules/adamw_warmup_linear.py', '_base_/default_runtime.py']

pretrained_root = 'data/pretrained'  # as in the dataset base (towers and pipelines read the same folders)
_image = f'{pretrained_root}/efficientnet_lite0'
_text = f'{pretrained_root}/all_minilm_l6_v2'

_tail = dict(dim=256, depth=1, num_heads=4)  # trainable layers on top of each frozen tower
model = dict(encoders=dict(
    # the image: the frozen tower's mean feature, projected (no layer on top: a fresh transformer layer between
    # a pretrained tower and the product vector loses what the tower knows; docs/benchmark.md)
    # pooled_source='backbone': the vector the projection head reads is the frozen tower's own mean feature (what
    # frozen concat uses), not the output of the fresh Linear + LayerNorm on its tokens (which feed the fusion)
    image=dict(_delete_=True, type='PretrainedImageEncoder', pretrained=_image, freeze=True, pooled_source='backbone',
               **dict(_tail, depth=0)),
    # a CNN has no class token: each frame is the mean of its 49 tokens
    video=dict(_delete_=True, type='PretrainedVideoEncoder', pretrained=_image, freeze=True, frame_pool='mean',
               pooled_source='backbone', **_tail),
    text=dict(_delete_=True, type='PretrainedTextEncoder', pretrained=_text, lora=dict(r=8, alpha=16)),
    table=dict(_delete_=True, type='PretrainedTableEncoder'),  # shares the text tower and its adapters
))

# The product vector: the present modalities' projected embeddings (the space the contrastive objective aligns),
# each centred by its running mean over training, the absent ones predicted from the present ones, weighted by
# the harmonizer's importances. The fusion's mean of fused vectors starts as a random function of the real
# towers and says which modalities a product has; this one starts from the towers and stays in one space for
# any subset of modalities (docs/benchmark.md, "Real packaged towers").
model.update(neck=dict(type='AlignedJointNeck', centre=True, complete=True, importance=True))
# Into that space through a head that starts as a fixed orthogonal map of the tower's vector (the tower's
# geometry: training starts from frozen concat, per modality) plus a zero-initialised residual at a tenth of the
# step size: contrastive training adds the alignment instead of replacing what the tower knows
# (docs/benchmark.md, "Keeping what the frozen towers know").
model.update(projection=dict(_delete_=True, type='ResidualProjectionHead', out_dim=256, residual_scale=0.1))

# SCALE's objectives (as ScalePretrainer derives them), with the contrastive term at its own temperature: the
# cosine-graph weights of embeddings that start unrelated across modalities (frozen real towers, new projection
# heads) average ~0.15 and would otherwise raise T from 0.07 to ~0.45 (docs/benchmark.md, "SCALE on real towers").
# An objective whose modality a run leaves out (--modalities) is dropped.
_feature = 'MaskedFeatureRegressionObjective'
model.update(objectives=dict(
    con=dict(type='InterModalityContrastiveObjective', mean_one_weights=True),
    mfm_image=dict(type=_feature, modality='image'),
    mlm=dict(type='MaskedLanguageModelObjective', modality='text'),
    mem=dict(type='MaskedEntityModelObjective', modality='table', share_head='mlm'),
    mfm_video=dict(type=_feature, modality='video'),
    mfm_audio=dict(type=_feature, modality='audio'),
    # each modality's projected embeddings keep the in-batch similarities of the tower vectors they come from
    rkd=dict(type='RelationalDistillationObjective', loss_weight=10.0),
))
# New heads and tails on frozen towers need the from-scratch learning rate (3e-4 left loss_con flat for the
# 28 steps of 4 demo epochs); the LoRA adapters take it too.
optim = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=10)
