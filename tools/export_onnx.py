"""``python tools/export_onnx.py`` in a clone, the ``m5mm-export-onnx`` command once installed:
:mod:`m5mm.commands.export_onnx`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.export_onnx by code that has m5mm already
    pass
from m5mm.commands.export_onnx import *  # noqa: F401,F403
from m5mm.commands.export_onnx import main

if __name__ == '__main__':
    main()
