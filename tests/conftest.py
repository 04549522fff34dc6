"""Hypothesis profiles: "ci" (the default) and a quicker "dev".

Choose one with ``HYPOTHESIS_PROFILE=dev``. No deadline in either: the first example of
a test pays for imports and caches, and a timing failure would say nothing about rules.
"""

import os

from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=100, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
