"""ONNX export of the segmenter and of the credit-limit quantile models.

``segmenter.onnx`` = the skl2onnx-converted preprocessor (output ``scaled``) followed by
a small distance head: ``distances = sqrt(sum((scaled - centroid)^2))`` computed from
the differences, and ``label = argmin(distances)``. skl2onnx's own KMeans converter
uses the expansion ``|x|^2 - 2x.c + |c|^2`` under ``Sqrt``, which in float32 loses
precision near a centroid and can even take the root of a small negative number (NaN)
for an input at the centroid itself; the difference form cannot.

Each limit file holds three skl2onnx-converted quantile models side by side in one
graph, sharing the ``features`` input, with outputs ``p25``, ``p50``, ``p75``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from chalicelib.contract.bundle import quantile_output as quantile_output_name
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.pipeline import Pipeline

import training.preprocess  # noqa: F401  (registers the Log1pColumns converter)

#: Main-domain opset of every exported graph (contract: <= 18).
OPSET = 17
ML_OPSET = 3
_TARGET_OPSET = {"": OPSET, "ai.onnx.ml": ML_OPSET}


def _convert(model: Any, n_features: int, output: str) -> onnx.ModelProto:
    return convert_sklearn(
        model,
        initial_types=[("features", FloatTensorType([None, n_features]))],
        final_types=[(output, FloatTensorType([None, None]))],
        target_opset=_TARGET_OPSET,
    )


def _with_opsets(graph: onnx.GraphProto, opsets: Mapping[str, int]) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, v) for domain, v in opsets.items()],
        producer_name="cc-segmentation",
    )
    model.ir_version = 8  # onnxruntime >= 1.14 reads it; keeps older runtimes working
    onnx.checker.check_model(model, full_check=True)
    return model


def export_segmenter(preprocessor: Pipeline, centers: NDArray[np.floating[Any]]) -> bytes:
    """Serialize raw features -> (label, distances, scaled) as one ONNX graph."""
    n_features = int(np.asarray(centers).shape[1])
    k = int(np.asarray(centers).shape[0])
    pre = _convert(preprocessor, n_features, "scaled")
    graph = pre.graph
    graph.ClearField("output")
    centroids = np.asarray(centers, dtype=np.float32).reshape(1, k, n_features)
    graph.initializer.extend(
        [
            numpy_helper.from_array(centroids, "seg_centroids"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "seg_axis1"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "seg_axis2"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Unsqueeze", ["scaled", "seg_axis1"], ["seg_rows"]),
            helper.make_node("Sub", ["seg_rows", "seg_centroids"], ["seg_diff"]),
            helper.make_node("Mul", ["seg_diff", "seg_diff"], ["seg_sq"]),
            helper.make_node("ReduceSum", ["seg_sq", "seg_axis2"], ["seg_d2"], keepdims=0),
            helper.make_node("Sqrt", ["seg_d2"], ["distances"]),
            helper.make_node("ArgMin", ["distances"], ["label"], axis=1, keepdims=0),
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("distances", TensorProto.FLOAT, [None, k]),
            helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [None, n_features]),
        ]
    )
    graph.name = "segmenter"
    opsets = {op.domain: op.version for op in pre.opset_import}
    opsets[""] = OPSET
    return _with_opsets(graph, opsets).SerializeToString()


def _prefix_internal(graph: onnx.GraphProto, prefix: str, keep: set[str]) -> None:
    """Prefix every tensor and node name in ``graph`` except those in ``keep``."""

    def rename(name: str) -> str:
        return name if not name or name in keep else prefix + name

    for node in graph.node:
        node.name = prefix + node.name
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
    for init in graph.initializer:
        init.name = rename(init.name)
    for info in graph.value_info:
        info.name = rename(info.name)


def export_quantile_models(models: Mapping[float, Any], n_features: int) -> bytes:
    """Serialize one regressor per quantile as one graph with outputs ``p25``, ``p50``..."""
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    opsets: dict[str, int] = {}
    for quantile, model in sorted(models.items()):
        name = quantile_output_name(quantile)
        converted = _convert(model, n_features, name)
        _prefix_internal(converted.graph, f"{name}_", keep={"features", name})
        nodes.extend(converted.graph.node)
        initializers.extend(converted.graph.initializer)
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]))
        for op in converted.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    graph = helper.make_graph(
        nodes,
        "limit_quantiles",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n_features])],
        outputs,
        initializer=initializers,
    )
    return _with_opsets(graph, opsets).SerializeToString()
