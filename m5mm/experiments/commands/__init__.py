"""The experiment commands (``m5mm-benchmark``, ``m5mm-make-demo-data``, ``m5mm-make-tiny-pretrained``; in a clone
``python tools/NAME.py``)."""
