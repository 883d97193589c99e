"""``python -m training``: see :mod:`training.cli`.

OpenMP threads that busy-wait for work make scikit-learn's KMeans about 10 times slower
when other processes share the cores (measured: 560 s instead of 59 s for the real data on
a loaded 2-core machine), so passive waiting is the default here; it must be set before
scikit-learn loads the OpenMP runtime, and an explicit ``OMP_WAIT_POLICY`` in the
environment still wins. Passive waiting is not free: waking sleeping workers for each of
HistGradientBoosting's many short parallel regions made the credit-limit models 6.5 times
slower even on an idle machine, so those run on one thread (``training.limits``).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from training.cli import main  # after the OpenMP setting, on purpose

raise SystemExit(main())
