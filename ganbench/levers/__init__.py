"""Implementation levers: settings that change how fast a run trains (and how much memory
it needs), not the algorithm. ``levers:`` in a run; each one that cannot apply on the
run's device is skipped, and the summary says which and why (``levers_skipped``).

- ``precision`` (``precision.py``): ``amp-bf16`` / ``amp-fp16`` run every forward pass
  and loss under ``torch.autocast``; parameters, gradients and optimiser state stay
  float32. bf16 keeps fp32's range and needs no loss scaling. fp16 does: each network
  has its own ``LossScaler`` (GradScaler's dynamic rule, applied by hand because the
  oracle takes gradients with ``autograd.grad``): losses are multiplied by the scale,
  gradients unscaled right after each evaluation, and a player whose gradients overflowed
  skips that step (its parameters, SRFB shadow and extrapolation stay as they were) while
  its scale halves. fp16 autocast is a CUDA lever: on the CPU it is skipped with a reason.
- ``compile`` (``compile.py``): ``torch.compile`` of every network the strategy calls
  (modes as torch's); a network that cannot compile falls back to eager with the reason.
  CUDA graphs for generation live there too.
- ``channels_last`` and ``data_on_device`` (``layout.py``): NHWC memory format for models
  and real batches (4-D tensors only); the whole dataset (uint8 images) copied to GPU
  memory once when it takes at most half the free memory, batches gathered on the GPU.
- ``parallel`` (``distributed.py``): ``dp`` wraps the networks in ``nn.DataParallel``
  (needs 2+ GPUs); ``ddp`` trains one run in N processes (the torchrun launcher).
- ``grad_accumulation: k``: every batch is processed as k micro-batches whose gradients
  are summed with weights micro/batch before one optimiser step: the same estimate for
  per-example losses with 1/k of the activations in memory (batch-norm statistics are
  per micro-batch, as on k devices). Every scheduled batch size must divide by k.
- ``cudnn_benchmark`` and ``tf32`` (``backend.py``): cuDNN picks the fastest convolution
  algorithm per shape; TensorFloat-32 for matmuls and cuDNN convolutions on (true) or off
  (false), null keeps PyTorch's defaults (cuDNN on, matmul off). CUDA only.

The backend flags are process-wide: ``applied_levers`` sets them for one run and puts
the previous values back afterwards, so runs of a suite never inherit each other's.

The names of the precisions and compile modes (``names.py``) import nothing heavy, so the
command line checks them before torch is imported; the package's names below are
imported on first use.
"""

from ganbench.lazy import lazy_names

_WHERE = {"settings": ("AppliedLevers", "LeversConfig", "applied_levers")}
__all__ = ["AppliedLevers", "LeversConfig", "applied_levers"]
__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
