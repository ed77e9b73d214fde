# Frozen concat baseline on title + image only (the "frozen concat T+I" row); see configs/frozen_concat_packaged.py.
#   python tools/test.py configs/frozen_concat_packaged_text_image.py none --work-dir work_dirs/frozen_concat_ti
_base_ = ['frozen_concat_packaged.py']

model = dict(modalities=['text', 'image'])
