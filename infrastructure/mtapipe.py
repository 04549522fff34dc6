"""The fastest start of ``mailhost deliver`` for an MTA's pipe: run this file with ``-S``.

``/srv/mailhost/.venv/bin/python -S /srv/mailhost/infrastructure/mtapipe.py deliver
--recipient R --sender S`` does what the ``mailhost`` console script does, minus what a
process per message pays before ``main``: ``site`` (the editable install's finder and
``.pth`` files, ~10-20 ms), the console script's ``import re``, and ``-m``'s ``runpy``.
A file run as a script is compiled on every start (only imported modules are cached),
so this one is a few lines and ``infrastructure.entrypoint`` is imported from its
compiled copy. Without a listener the entry point runs ``site`` itself before it
imports the engine, so the fallback in process still finds the dependencies.
"""

import os
import sys

if __name__ == "__main__":
    # The repository on the path, not this folder: infrastructure/secrets.py there
    # would shadow the standard library's secrets.
    _HERE = os.path.dirname(os.path.realpath(__file__))  # noqa: PTH120 - no pathlib
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))  # noqa: PTH120 - no pathlib
    from infrastructure.entrypoint import main

    sys.exit(main())
