"""An ONNX file as a generator for ``ganbench latency --generator model.onnx``: run by ONNX
Runtime (the optional extra ``ganbench[onnx]``), wrapped as an ``nn.Module`` so that it is
timed exactly like a PyTorch generator (same noise, same timer, same rows).

On the CPU the noise goes in as a NumPy view of the tensor (no copy) and the output comes
back as a tensor over ONNX Runtime's buffer. On a GPU, with the CUDA execution provider,
input and output are bound to CUDA tensors (I/O binding: no copy through the host);
ONNX Runtime returns when its stream is done, so the call timer sees the whole call.
The session uses as many intra-op threads as torch does at the time of the call (a
session is opened again when ``--threads`` changes that), so ONNX Runtime and PyTorch
rows compare on the same threads. What ONNX Runtime cannot do is a skipped row with the
reason: another precision than the file's, torch.compile, channels_last, a batch size
that a fixed batch dimension excludes, CUDA without the CUDA provider.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import UserError

# ONNX element types as torch dtypes, and the precisions that give those inputs.
DTYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16}
PRECISIONS = {torch.float32: "fp32", torch.float16: "amp-fp16"}


def onnx_runtime(option: str, path: Path) -> Any:
    """``onnxruntime``, or a UserError naming the extra to install."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(
            f"{option} {path}: an ONNX model needs ONNX Runtime: pip install 'ganbench[onnx]' "
            "(or onnxruntime-gpu for CUDA)"
        ) from None
    return onnxruntime


class OnnxGenerator(nn.Module):
    """An ONNX Runtime session as a module without parameters: ``forward(z)`` runs it."""

    def __init__(self, path: Path, option: str = "--generator") -> None:
        super().__init__()
        self.ort = onnx_runtime(option, path)
        self.path, self.option = path, option
        self.available = self.ort.get_available_providers()
        self._threads, self._device = -1, torch.device("cpu")
        self._open(self._device)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise UserError(
                f"{option} {path}: the ONNX model takes {len(inputs)} inputs; a generator "
                "takes one (the noise)"
            )
        self.input, self.output = inputs[0], outputs[0]
        if self.input.type not in DTYPES:
            raise UserError(
                f"{option} {path}: the ONNX model's input is {self.input.type}; ganbench times "
                f"generators taking {' or '.join(DTYPES)}"
            )
        self.dtype = DTYPES[self.input.type]
        self._out_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxGenerator:
        return self  # one session serves every row (nothing in it changes)

    def _open(self, device: torch.device) -> None:
        """A session for ``device``: the CPU provider alone on the CPU (never a GPU behind
        a CPU row), the CUDA provider on that GPU first on CUDA."""
        options = self.ort.SessionOptions()
        self._threads, self._device = torch.get_num_threads(), device
        options.intra_op_num_threads = self._threads
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in self.available:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        try:
            self.session = self.ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as err:  # noqa: BLE001  (a damaged or foreign file)
            last = (str(err).strip().splitlines() or [type(err).__name__])[-1]
            raise UserError(f"{self.option} {self.path}: cannot be loaded: {last}") from None

    @property
    def latent_shape(self) -> tuple[int, ...] | None:
        """One example's noise shape as the file fixes it (None where a dimension is named)."""
        dims = self.input.shape[1:]
        return tuple(dims) if dims and all(isinstance(d, int) for d in dims) else None

    @property
    def fixed_batch(self) -> int | None:
        first = self.input.shape[0] if self.input.shape else None
        return first if isinstance(first, int) else None

    @property
    def weights_bytes(self) -> int:
        """The file's size, weights stored beside it (``.onnx.data``) included."""
        beside = self.path.with_name(self.path.name + ".data")
        return self.path.stat().st_size + (beside.stat().st_size if beside.is_file() else 0)

    def parameter_count(self) -> int | None:
        """Numbers in the graph's initializers (its weights), read without loading them."""
        try:
            import onnx

            graph = onnx.load(str(self.path), load_external_data=False).graph
        except Exception:  # noqa: BLE001  (onnx missing or the file unusual: unknown)
            return None
        return sum(math.prod(init.dims) for init in graph.initializer)

    def describe(self) -> dict[str, Any]:
        return {
            "runtime": f"onnxruntime {self.ort.__version__}",
            "providers": self.session.get_providers(),
            "intra_op_threads": self._threads,
            "input": {"name": self.input.name, "shape": self.input.shape, "type": self.input.type},
        }

    def unsupported(
        self, precision: str, compile_mode: str, channels_last: bool, batch: int, device: Any
    ) -> str | None:
        """Why ONNX Runtime cannot run this row, or None."""
        if PRECISIONS[self.dtype] != precision:
            return f"an ONNX model runs in the precision it was exported in ({self.input.type})"
        if compile_mode != "off":
            return "torch.compile does not apply to an ONNX Runtime session"
        if channels_last:
            return "channels_last does not apply to an ONNX Runtime session"
        if self.fixed_batch is not None and batch != self.fixed_batch:
            return f"the ONNX model was exported for batch size {self.fixed_batch} only"
        if torch.device(device).type == "cuda":
            if "CUDAExecutionProvider" not in self.available:
                return "this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)"
            self._open(torch.device(device))
            if "CUDAExecutionProvider" not in self.session.get_providers():
                return "ONNX Runtime's CUDA provider did not start (CUDA or cuDNN libraries?)"
        return None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self._threads != torch.get_num_threads() or z.device != self._device:
            self._open(z.device)
        if z.device.type == "cuda":
            return self._run_cuda(z)
        feed = {self.input.name: z.detach().contiguous().numpy()}
        return torch.from_numpy(self.session.run([self.output.name], feed)[0])

    def _run_cuda(self, z: torch.Tensor) -> torch.Tensor:
        """I/O binding to CUDA tensors (unmeasured: no GPU has run this yet)."""
        import numpy as np

        z = z.detach().contiguous()
        torch.cuda.current_stream(z.device).synchronize()  # the noise is ready for ORT's stream
        element = np.float32 if z.dtype == torch.float32 else np.float16
        index = z.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input(self.input.name, "cuda", index, element, tuple(z.shape), z.data_ptr())
        shape = self._out_shapes.get(tuple(z.shape))
        if shape is None:  # the first call at this batch size learns the output's shape
            binding.bind_output(self.output.name, "cuda", index)
            self.session.run_with_iobinding(binding)
            self._out_shapes[tuple(z.shape)] = tuple(binding.get_outputs()[0].shape())
            return self._run_cuda(z)
        out = torch.empty(shape, device=z.device, dtype=DTYPES.get(self.output.type, z.dtype))
        element = np.float32 if out.dtype == torch.float32 else np.float16
        binding.bind_output(self.output.name, "cuda", index, element, shape, out.data_ptr())
        self.session.run_with_iobinding(binding)
        return out
