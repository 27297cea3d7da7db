"""What the nodes of an ONNX graph cost: FLOPs (2 per multiply-add) of its convolutions and matrix
products, from the shapes a kernel sees (the profiler's events) or from ONNX's static shape inference
(a graph on disk, before anything runs). `--fallback auto` weighs a block's cost against its error with
these; the bench's profiles turn them into achieved GFLOP/s. Needs onnx, not torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONV_OPS = ("Conv", "FusedConv", "NhwcFusedConv", "QLinearConv", "ConvInteger")
PRODUCT_OPS = ("MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "QLinearMatMul")
# Initializers up to this many elements keep their values for shape inference (shapes, scales, axes);
# larger ones are weights, of which only the shape matters.
SMALL_INITIALIZER = 4096


def node_flops(op: str, inputs: list[list[int]], outputs: list[list[int]]) -> float:
    """FLOPs (2 per multiply-add) of one node from its shapes (inputs in the node's order; a matrix
    product needs only its first); 0 for ops that are not products."""
    if not inputs or not outputs:
        return 0.0
    if op in CONV_OPS and len(inputs) > 1:
        weight = inputs[3] if op == "QLinearConv" and len(inputs) > 3 else inputs[1]
        if len(weight) >= 3:
            return 2.0 * float(np.prod(outputs[0])) * float(np.prod(weight[1:]))
    if op == "ConvTranspose" and len(inputs) > 1 and len(inputs[1]) >= 3:
        return 2.0 * float(np.prod(inputs[0])) * float(np.prod(inputs[1][1:]))
    if op in PRODUCT_OPS:
        # A (… × K) is all it takes: ONNX Runtime's profiler omits a constant B it has pre-packed.
        # (Gemm with transA would read K from A's first axis; no export of ours writes one.)
        a = inputs[0]
        return 2.0 * float(np.prod(outputs[0])) * float(a[-1]) if a else 0.0
    return 0.0


def _skeleton(model: Any, batch: int) -> Any:
    """`model` without its weights' values (each becomes an input of the same shape) and with every
    symbolic input dimension fixed to `batch`: what shape inference needs, a few kilobytes instead of
    hundreds of megabytes."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    small, inputs = [], []
    for t in graph.initializer:
        if int(np.prod(t.dims)) <= SMALL_INITIALIZER and not t.external_data:
            small.append(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
        else:
            inputs.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    weights, given = {t.name for t in graph.initializer}, []
    for v in graph.input:
        if v.name in weights:  # an old-style graph lists its initializers as inputs too
            continue
        v = onnx.ValueInfoProto.FromString(v.SerializeToString())
        for d in v.type.tensor_type.shape.dim:
            if not d.dim_value:
                d.Clear()
                d.dim_value = batch  # only the batch is symbolic in our exports
        given.append(v)
    skeleton = helper.make_graph(list(graph.node), graph.name, given + inputs, list(graph.output), small)
    out = helper.make_model(skeleton, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    out.functions.extend(model.functions)
    return out


def flops_by_node(model: Any, batch: int = 1) -> dict[str, float]:
    """FLOPs of each convolution and matrix product of `model` (an `onnx.ModelProto`) at `batch`
    frames, by node name, from ONNX's shape inference; nodes whose shapes it cannot resolve are left out."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(_skeleton(model, batch), data_prop=True)
    graph = inferred.graph
    shapes: dict[str, list[int]] = {}
    for v in [*graph.input, *graph.value_info, *graph.output]:
        t = v.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[v.name] = [d.dim_value for d in t.shape.dim]  # a scalar's is []
    for t in graph.initializer:
        shapes[t.name] = list(t.dims)
    flops: dict[str, float] = {}
    for n in graph.node:
        if n.op_type not in (*CONV_OPS, *PRODUCT_OPS, "ConvTranspose"):
            continue
        ins, outs = [shapes.get(x) for x in n.input if x], [shapes.get(x) for x in n.output[:1]]
        if all(s is not None for s in [*ins, *outs]):
            flops[n.name] = node_flops(n.op_type, ins, outs)  # type: ignore[arg-type]
    return flops
