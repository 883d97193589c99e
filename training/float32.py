"""float32 helpers shared by fitting, export and parity: what an exported graph sees.

Serving feeds the graphs float32. The limit models are fitted on float32-rounded values
with thresholds snapped to float32 (``limits``), and parity compares on the same values
(``parity``); both need these two functions, and neither should depend on the other or on
the ONNX export for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def float32_grid(values: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """``values`` rounded to float32, as float64: exactly what an exported graph sees.

    Serving feeds the graphs float32; models fitted and checked on these values cannot
    be surprised by the rounding.
    """
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def snap_thresholds_to_float32(model: Any) -> None:
    """Round every split threshold of a fitted HistGradientBoosting model *down* to float32.

    For any float32 input x, ``x <= t`` and ``x <= float32_down(t)`` decide alike (no
    float32 lies between them), so the model's behaviour on float32 inputs is unchanged,
    and the exported graph, whose thresholds are float32, now makes exactly the same
    decisions: parity becomes a property of every input, not a hope about the data.
    (Uses the fitted ``_predictors``; scikit-learn is pinned below 1.10.)
    """
    for iteration in model._predictors:
        for predictor in iteration:
            thresholds = predictor.nodes["num_threshold"]
            down = thresholds.astype(np.float32)
            too_high = down.astype(np.float64) > thresholds
            down[too_high] = np.nextafter(down[too_high], np.float32(-np.inf))
            predictor.nodes["num_threshold"] = down.astype(np.float64)
