"""The command-line tools: ``m5mm-NAME`` once installed (setup.cfg ``console_scripts``), ``python tools/NAME.py``
in a clone. Each module has a ``main(argv=None)``."""
