"""``python tools/make_tiny_pretrained.py`` in a clone, the ``m5mm-make-tiny-pretrained`` command once installed:
:mod:`m5mm.experiments.commands.make_tiny_pretrained`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.make_tiny_pretrained by code that has m5mm already
    pass
from m5mm.experiments.commands.make_tiny_pretrained import *  # noqa: F401,F403
from m5mm.experiments.commands.make_tiny_pretrained import main

if __name__ == '__main__':
    main()
