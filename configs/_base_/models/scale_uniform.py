# SCALE's ablation without self-harmonisation: scale_small.py with every present modality pair
# weighted 1 (UniformHarmonizer) in the contrastive loss and the masked tasks.
_base_ = './scale_small.py'
model = dict(harmonizer=dict(_delete_=True, type='UniformHarmonizer'))
