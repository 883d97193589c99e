"""``python -m training``: see :mod:`training.cli`.

OpenMP threads that busy-wait for work make scikit-learn's KMeans about 10 times slower
when other processes share the cores (measured: 560 s instead of 59 s for the real data on
a loaded 2-core machine). Passive waiting costs nothing on an idle machine, so it is the
default here; it must be set before scikit-learn loads the OpenMP runtime, and an explicit
``OMP_WAIT_POLICY`` in the environment still wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from training.cli import main  # after the OpenMP setting, on purpose

raise SystemExit(main())
