"""Export a trained ResNetGenerator three ways and give it back eager, for
``ganbench latency --generator``.

    python -m ownnets.export reports/own-model/alternating-seed0 exported/

writes ``exported/g.pt2`` (torch.export, batch dimension dynamic), ``exported/g.ts``
(TorchScript, traced), ``exported/g.onnx`` (torch.onnx's dynamo exporter, batch dimension
dynamic; needs ``ganbench[onnx]``) and ``exported/g_state.pt`` (the weights) with
``exported/g_config.json`` (the constructor's arguments); ``eager()`` rebuilds the
module from those two, which is what ``--generator ownnets.export:eager`` times.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import torch

from ownnets.networks import ResNetGenerator

FOLDER = Path(os.environ.get("OWNNETS_EXPORTED", "exported"))


def trained(run_folder: Path) -> tuple[ResNetGenerator, dict]:
    """The generator of a ganbench run of this package's networks, in eval mode."""
    from ganbench.latency.sources import generator_from_checkpoint

    source = generator_from_checkpoint(run_folder / "checkpoint.pt")
    kwargs = {k: v for k, v in source.model.generator.items() if k != "_target_"}
    return source.generator.eval(), {"kwargs": kwargs, "latent": source.model.latent_shape}


def export(G: torch.nn.Module, latent: list[int], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    z = torch.randn(2, *latent)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(G, (z,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out / "g.pt2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        torch.jit.save(torch.jit.trace(G, z), str(out / "g.ts"))
        torch.onnx.export(
            G, (z,), str(out / "g.onnx"), dynamic_shapes=({0: batch},), dynamo=True,
            input_names=["z"], output_names=["images"], verbose=False,
        )  # fmt: skip


def eager() -> ResNetGenerator:
    """The exported weights in a fresh module: eager PyTorch, for comparison."""
    config = json.loads((FOLDER / "g_config.json").read_text())
    G = ResNetGenerator(**config["kwargs"])
    G.load_state_dict(torch.load(FOLDER / "g_state.pt", weights_only=True))
    return G.eval()


def main(run_folder: str, out: str) -> None:
    G, config = trained(Path(run_folder))
    target = Path(out)
    export(G, config["latent"], target)
    torch.save(G.state_dict(), target / "g_state.pt")
    (target / "g_config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {', '.join(sorted(p.name for p in target.iterdir()))} in {target}/")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m ownnets.export RUN_FOLDER OUT_FOLDER")
    main(sys.argv[1], sys.argv[2])
