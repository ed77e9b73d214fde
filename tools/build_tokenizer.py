"""``python tools/build_tokenizer.py`` in a clone, the ``m5mm-build-tokenizer`` command once installed:
:mod:`m5mm.commands.build_tokenizer`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.build_tokenizer by code that has m5mm already
    pass
from m5mm.commands.build_tokenizer import *  # noqa: F401,F403
from m5mm.commands.build_tokenizer import main

if __name__ == '__main__':
    main()
