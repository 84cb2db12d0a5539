"""latency --generator: TorchScript, torch.export, ONNX, a state dict with --model, a
function of the user's, and a pickled module only with --trust-code; each recorded for
what it is; several compared in one command."""

from __future__ import annotations

import hashlib
import json
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.latency.sources import fresh_generator

NETS = '''
import torch
from torch import nn


class Small(nn.Module):
    """z (n, 8) -> images (n, 3, 2, 2)."""

    def __init__(self):
        super().__init__()
        self.l = nn.Linear(8, 12)

    def forward(self, z):
        return torch.tanh(self.l(z.flatten(1))).view(z.shape[0], 3, 2, 2)


def make():
    torch.manual_seed(0)
    return Small()
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch) -> str:
    name = f"usernets_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(NETS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def timed(tmp_path: Path, *args: str):
    out = tmp_path / "lat"
    result = CliRunner().invoke(
        app,
        ["latency", *args, "--batch-sizes", "1,4", "--repeats", "3", "--output", str(out)],
    )
    document = json.loads((out / "latency.json").read_text()) if result.exit_code == 0 else None
    return result, document


def test_each_kind_of_file_is_timed_and_recorded(tmp_path, user_module) -> None:
    import importlib

    G = importlib.import_module(user_module).make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
        torch.jit.script(G).save(str(tmp_path / "g.ts"))
    batch = torch.export.Dim("batch", min=1, max=512)
    program = torch.export.export(G, (torch.randn(2, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp_path / "g.pt2"))
    sources = {
        str(tmp_path / "g.ts"): ("torchscript", "torch.jit"),
        str(tmp_path / "g.pt2"): ("torch.export", "torch.export"),
        f"{user_module}:make": ("function", "eager"),
    }
    for source, (kind, runtime) in sources.items():
        result, document = timed(tmp_path, "--generator", source, "--latent-shape", "8")
        assert result.exit_code == 0, result.output
        recorded = document["generator"]
        assert recorded["file"]["kind"] == kind and recorded["file"]["runtime"] == runtime
        assert recorded["sample_shape"] == [3, 2, 2]
        assert [r["status"] for r in document["rows"]] == ["ok", "ok"], document["rows"]
        if Path(source).is_file():
            digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
            assert recorded["file"]["sha256"] == digest


def test_a_state_dict_needs_its_architecture(tmp_path) -> None:
    G = fresh_generator("mlp", ["model.latent_dim=16", "model.hidden=8"]).generator
    torch.save(G.state_dict(), tmp_path / "sd.pt")
    source = str(tmp_path / "sd.pt")
    result, _ = timed(tmp_path, "--generator", source, "--latent-shape", "16")
    assert result.exit_code == 2 and "a state dict; name its architecture with --model" in (
        " ".join(result.output.split())
    )
    sets = ["--set", "model.latent_dim=16", "--set", "model.hidden=8"]
    result, document = timed(
        tmp_path, "--generator", source, "--model", "mlp", *sets, "--latent-shape", "16"
    )
    assert result.exit_code == 0, result.output
    assert document["generator"]["file"]["kind"] == "state dict"
    wrong = ["--set", "model.latent_dim=16", "--set", "model.hidden=9"]
    result, _ = timed(tmp_path, "--generator", source, "--model", "mlp", *wrong)
    assert result.exit_code == 2 and "does not fit a mlp generator" in result.output


def test_a_pickled_module_is_refused_unless_trusted(tmp_path, user_module) -> None:
    import importlib

    torch.save(importlib.import_module(user_module).make(), tmp_path / "whole.pt")
    args = ("--generator", str(tmp_path / "whole.pt"), "--latent-shape", "8")
    result, _ = timed(tmp_path, *args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "unpickling runs code from the file" in text
    assert "--trust-code" in text
    result, document = timed(tmp_path, *args, "--trust-code")
    assert result.exit_code == 0, result.output
    assert document["generator"]["file"]["kind"] == "pickle"


def test_what_cannot_be_timed_is_one_line(tmp_path, user_module) -> None:
    (tmp_path / "g.onnx").write_bytes(b"\x08\x07")
    cases = {
        ("--generator", str(tmp_path / "g.onnx")): "g.onnx: cannot be loaded:",
        ("--generator", f"{user_module}:make", "--latent-shape", "5"): "give the noise's shape",
        ("--generator", f"{user_module}:nothing"): "has no function 'nothing'",
        ("--generator", "nowhere_pkg.mod:make"): "cannot import nowhere_pkg.mod",
        ("--generator", str(tmp_path / "missing.pt")): "no such file",
        ("--generator", f"{user_module}:make", "--latent-shape", "0"): "positive integers",
    }
    for args, message in cases.items():
        result, _ = timed(tmp_path, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output


def small_onnx(path: Path, G: torch.nn.Module) -> Path:
    """``Small`` written as an ONNX graph by hand (Gemm, Tanh, Reshape; batch dimension
    named): an ONNX file without the cost of torch.onnx.export."""
    from onnx import TensorProto, helper, numpy_helper, save

    weight, bias = (t.detach().numpy() for t in (G.l.weight, G.l.bias))
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["z", "w", "b"], ["h"], transB=1),
            helper.make_node("Tanh", ["h"], ["t"]),
            helper.make_node("Reshape", ["t", "shape"], ["images"]),
        ],
        "small",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 2, 2])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.array([-1, 3, 2, 2], dtype=np.int64), "shape"),
        ],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_an_onnx_file_runs_in_onnx_runtime_beside_the_others(tmp_path, user_module) -> None:
    import importlib

    from ganbench.latency.files import generator_from_source

    G = importlib.import_module(user_module).make().eval()
    onnx_file = small_onnx(tmp_path / "small.onnx", G)
    loaded = generator_from_source(str(onnx_file))  # the noise's shape read from the file
    z = torch.randn(5, 8)
    with torch.inference_mode():
        assert torch.allclose(loaded.generator(z), G(z), atol=1e-6)
    assert loaded.model.noise_shape() == (8,) and loaded.shape == (3, 2, 2)
    assert loaded.file["providers"][-1] == "CPUExecutionProvider"
    assert loaded.file["runtime"].startswith("onnxruntime ")

    sources = [str(onnx_file), f"{user_module}:make", f"{user_module}:make"]
    args = [a for s in sources for a in ("--generator", s)]
    result, document = timed(tmp_path, *args, "--latent-shape", "8", "--precision", "fp32,bf16")
    assert result.exit_code == 0, result.output
    labels = ["small.onnx", "make", "make#2"]
    assert [g["label"] for g in document["generators"]] == labels
    rows = document["rows"]  # the generators take turns, row by row
    assert [r["generator"] for r in rows] == labels * 4
    assert [r["batch_size"] for r in rows] == [1] * 3 + [4] * 3 + [1] * 3 + [4] * 3
    onnx_bf16 = [r for r in rows if r["generator"] == "small.onnx" and r["precision"] != "fp32"]
    assert {r["status"] for r in onnx_bf16} == {"skipped"}
    assert "precision it was exported in" in onnx_bf16[0]["reason"]
    for row in (r for r in rows if r["status"] == "ok"):
        first = next(
            f for f in rows if f["generator"] == "small.onnx"
            and (f["precision"], f["batch_size"]) == (row["precision"], row["batch_size"])
        )  # fmt: skip
        if row is first or first["status"] != "ok":
            continue
        assert row["latency_ratio"] == pytest.approx(
            row["latency_mean_s"] / first["latency_mean_s"]
        )
        low, high = row["latency_ratio_ci"]
        assert low < row["latency_ratio"] < high
    assert "x 1st" in result.output and "make#2" in result.output
    csv = (tmp_path / "lat" / "latency.csv").read_text().splitlines()
    assert "latency_ratio_ci_low" in csv[0] and csv[1].startswith("onnx,cpu,small.onnx,")
