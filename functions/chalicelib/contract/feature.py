"""One model input, one type: the row contract's rule, its words, and what training learnt.

A column of the customer row is a :class:`Feature` from its first definition to the
scorer. The row contract (``row.COLUMN_RULES``) declares the untrained columns (name and
value rules; the learnt fields are None); training adds the words and the transform
(``training/schema.py``), then what it learnt from the data (range, imputation value, the
scaler's numbers) with :func:`dataclasses.replace`, and writes the result into the
manifest's ``features``. Serving reads the same objects back: the validator checks values
with them, the drift reports flag values outside their training range, ``GET /v1/model``
shows them, a path to a segment maps model space back to the data's units. (Each
feature's training bins sit beside, in ``manifest.drift_reference.features``, in feature
order: the layout of ``manifest.json``, which ``GET /v1/model`` shows as it is.)

Standard library only (the Lambda package carries it; training imports the same file).
"""

from dataclasses import dataclass, field
from typing import Any

from .codec import OMIT_NONE, REST, Record


@dataclass(frozen=True, repr=False, eq=False, slots=True)
class Feature(Record):
    """One model input as the manifest's ``features`` lists it (fields in that order).

    The rule (:func:`chalicelib.contract.row.check_value` applies it): ``integer``,
    ``valid_min``/``valid_max`` (hard bounds: a value outside is refused) and ``optional``
    (may be missing: imputed with ``default``). What training learnt, None until it has:
    ``train_min``/``train_max`` (a softer bound: values outside are scored but flagged),
    ``default`` (the imputation value), ``scaler_mean`` and ``scaler_scale`` (the standard
    scaler's numbers for this input: model value = (log1p-or-identity of the imputed value
    - scaler_mean) / scaler_scale; what a reader needs to map a point of model space back
    to the data's units, e.g. a path to a segment). The scaler's two are written only when
    known (:data:`~.codec.OMIT_NONE`): a manifest trained before them reads and writes
    back to the same bytes. ``extra``: keys a newer writer added, kept as they came.
    """

    name: str
    label: str = ""
    description: str = ""
    kind: str = ""
    integer: bool = False
    valid_min: float | None = 0.0
    valid_max: float | None = None
    train_min: float | None = None
    train_max: float | None = None
    optional: bool = False
    default: float | None = None
    log1p: bool = False
    scaler_mean: float | None = field(default=None, metadata=OMIT_NONE)
    scaler_scale: float | None = field(default=None, metadata=OMIT_NONE)
    extra: dict[str, Any] = field(default_factory=dict, metadata=REST)
