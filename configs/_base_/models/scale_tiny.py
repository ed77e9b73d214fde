# SCALE at test size (width 32, depth 1): every part of the real model, small enough to train
# for a few steps in seconds; no dropout, so runs are deterministic. Used by the test suite and
# for smoke-testing a new dataset.
dim = 32
model = dict(
    type='ScalePretrainer',
    encoders=dict(
        image=dict(type='ImagePatchEncoder', patch_size=16, dim=dim, depth=1, num_heads=2,
                   target_grid=2),
        text=dict(type='TextBertEncoder', hidden_size=dim, num_layers=1, num_heads=2, intermediate_size=2 * dim,
                  max_position=64, dropout=0.0),
        table=dict(type='TableBertEncoder', hidden_size=dim, num_layers=1, num_heads=2,
                   intermediate_size=2 * dim, max_position=64, dropout=0.0),
        video=dict(type='VideoFrameEncoder', max_frames=16, dim=dim, depth=1, num_heads=2,
                   frame_encoder=dict(type='ImagePatchEncoder', patch_size=32, dim=dim, depth=1,
                                      num_heads=2)),
        audio=dict(type='AudioMelEncoder', patch_frames=16, max_tokens=32, dim=dim, depth=1,
                   num_heads=2),
    ),
    share_text_table=True,
    fusion=dict(type='ScaleFusion', dim=dim, depth=1, num_heads=2),
    harmonizer=dict(type='CosineGraphHarmonizer'),
    mask_ratio=0.15,
)
