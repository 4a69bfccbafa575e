"""Triton python-backend model: the bundled fraud-detection ONNX file run by
onnxruntime, one session, batches as Triton's dynamic batcher forms them."""
import pathlib

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = pathlib.Path(__file__).with_name("model.onnx")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "features").as_numpy() for r in requests]
        sizes = [x.shape[0] for x in inputs]
        (out,) = self.session.run(["probabilities"], {"features": np.concatenate(inputs).astype(np.float32)})
        responses, start = [], 0
        for size in sizes:
            tensor = pb_utils.Tensor("probabilities", out[start:start + size])
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start += size
        return responses
