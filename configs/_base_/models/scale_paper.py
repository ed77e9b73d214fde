# SCALE at the paper's size (docs/method.md sections 1-3): 768-wide towers of 6 layers, a 6-layer
# 768-wide fusion transformer with 8 heads, text/table sharing one BERT (vocabulary from the
# dataset's tokenizer), a 1024-d ReLU contrastive projection, the cosine-graph harmonizer,
# 15% masking and temperature 0.07. Input sizes (image and frame side, mel bins) come from the
# dataset's pipelines (m5mm.datasets.transforms.Compose.output_meta): they are written once, there.
dim = 768
model = dict(
    type='ScalePretrainer',
    encoders=dict(
        # raw pixels instead of 36 Faster R-CNN regions: a 96 px image (configs/scale_5mod.py) in 16 px
        # patches = 36 tokens
        image=dict(type='ImagePatchEncoder', patch_size=16, dim=dim, depth=6, num_heads=12,
                   target_grid=4),
        text=dict(type='TextBertEncoder', hidden_size=dim, num_layers=6, num_heads=12, intermediate_size=3072,
                  max_position=64),
        table=dict(type='TableBertEncoder', hidden_size=dim, num_layers=6, num_heads=12,
                   intermediate_size=3072, max_position=64),
        # raw frames instead of 12 S3D clip features: each 32 px frame through a light patch encoder,
        # then 6 temporal layers over the 12 frame tokens
        video=dict(type='VideoFrameEncoder', max_frames=12, dim=dim, depth=6, num_heads=12,
                   frame_encoder=dict(type='ImagePatchEncoder', patch_size=16, dim=256, depth=2,
                                      num_heads=4)),
        audio=dict(type='AudioMelEncoder', patch_frames=4, max_tokens=80, dim=dim, depth=6,
                   num_heads=12),
    ),
    share_text_table=True,
    fusion=dict(type='ScaleFusion', dim=dim, depth=6, num_heads=8),
    harmonizer=dict(type='CosineGraphHarmonizer'),
    projection=dict(type='ProjectionHead', out_dim=1024, activation='relu'),
    mask_ratio=0.15,
    # compute only what each sample has: no work on padding and absent modalities (docs/training.md,
    # "Token packing"; 1.1-1.4x faster steps at 20-50 % incomplete records, docs/benchmarks.md)
    pack_tokens=True,
)
