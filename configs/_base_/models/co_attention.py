# N-stream co-attention fusion (ViLBERT / LXMERT style, one stream per modality, each cross-attending
# to the others) on SCALE's small towers, trained with UNITER's objective, the masked tasks + matching
# (ViLBERT's alignment prediction). Five streams cost more than one single-stream transformer: for a
# parameter budget equal to SCALE's (see docs/fusion_methods.md) the towers keep one layer and a
# co-attention block has a 2x feed-forward (its parameters then equal a plain block's).
_base_ = './uniter.py'
model = dict(
    encoders=dict(image=dict(depth=1), text=dict(num_layers=1), audio=dict(depth=1)),
    fusion=dict(_delete_=True, type='CoAttentionFusion', dim={{_base_.dim}}, depth=1, num_heads=4,
                mlp_ratio=2.0),
)
