"""Suite files: expansion into runs, overrides, selection and the messages for bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from ganbench.config import RunConfig, load_suite, parse_overrides, parse_seeds
from ganbench.errors import UserError
from tests.conftest import ROOT, docs_text, mixture_run, tiny_suite


def test_matrix_is_the_cartesian_product_with_readable_names(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {
        "strategy": ["srfb", "svre"],
        "batch": {
            "fixed": {"size": 32},
            "grow": {"size": 32, "milestones": [{"epoch": 1, "size": 64}]},
        },
        "seed": [0, 1],
    }
    runs = load_suite(write_suite({**suite, "order": "grouped"})).runs  # as expanded
    assert [r.id for r in runs] == [
        "srfb-fixed-seed0",
        "srfb-fixed-seed1",
        "srfb-grow-seed0",
        "srfb-grow-seed1",
        "svre-fixed-seed0",
        "svre-fixed-seed1",
        "svre-grow-seed0",
        "svre-grow-seed1",
    ]
    grow = runs[2]
    assert grow.strategy.name == "srfb" and grow.batch.sizes == [32, 64] and grow.seed == 0


def test_run_list_times_matrix_and_defaults_merge(write_suite) -> None:
    suite = tiny_suite(strategy={"name": "srfb", "delta": 0.7})
    suite["runs"] = [{"name": "a"}, {"name": "b", "strategy": "svre"}]
    suite["matrix"] = {"strategy.lr_g": [1e-3, 1e-4]}
    runs = load_suite(write_suite(suite)).runs
    assert [r.id for r in runs] == [
        "a-lr_g0.001-seed0",
        "a-lr_g0.0001-seed0",
        "b-lr_g0.001-seed0",
        "b-lr_g0.0001-seed0",
    ]
    assert runs[0].strategy.delta == 0.7  # kept from defaults
    # a new strategy name replaces the section: delta is not carried over to svre
    assert runs[2].strategy.name == "svre" and runs[2].strategy.lr_g == 1e-3


def test_seeds_option_replaces_the_seed_axis(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {"seed": [0, 1, 2]}
    runs = load_suite(write_suite(suite), seeds=[5, 7]).runs
    assert [r.id for r in runs] == ["tiny-seed5", "tiny-seed7"]


def test_set_overrides_every_run_and_suite_fields(write_suite) -> None:
    suite = tiny_suite()
    suite["runs"] = [{"name": "a", "budget": {"iterations": 3}}, {"name": "b"}]
    loaded = load_suite(
        write_suite(suite),
        ["budget.iterations=11", "strategy=srfb", "strategy.delta=0.9", "output_dir=/tmp/x"],
    )
    assert [r.budget.iterations for r in loaded.runs] == [11, 11]
    assert {r.strategy.delta for r in loaded.runs} == {0.9}
    assert loaded.output_dir == Path("/tmp/x")


def test_only_selects_by_name_or_id_with_globs(write_suite) -> None:
    suite = tiny_suite()
    suite["runs"] = [{"name": "srfb"}, {"name": "srfb-grow"}, {"name": "svre"}]
    path = write_suite(suite)
    assert [r.name for r in load_suite(path, only=["srfb*"]).runs] == ["srfb", "srfb-grow"]
    assert [r.name for r in load_suite(path, only=["svre-seed0"]).runs] == ["svre"]
    with pytest.raises(UserError, match=r"--only nope: no run matches \(choose: srfb, srfb-grow"):
        load_suite(path, only=["nope"])


def test_only_leaves_out_runs_an_override_does_not_suit(write_suite) -> None:
    """A --set meant for the chosen runs may make a left-out run invalid: that run is not
    held against the suite, but a chosen one still is."""
    suite = tiny_suite()
    plateau = {"name": "plateau", "metric": "fd_classifier", "patience": 2, "max_size": 16}
    suite["runs"] = [{"name": "fixed"}, {"name": "grow", "batch": {"size": 8, "growth": plateau}}]
    suite["defaults"]["evaluation"] = {"every_iterations": 5, "metrics": ["fd_classifier"]}
    path = write_suite(suite)
    unset = ["evaluation.every_iterations=null"]
    assert [r.name for r in load_suite(path, unset, only=["fixed"]).runs] == ["fixed"]
    with pytest.raises(UserError, match=r"run 'grow'.*periodic evaluation"):
        load_suite(path, unset)
    with pytest.raises(UserError, match=r"run 'grow'.*periodic evaluation"):
        load_suite(path, unset, only=["grow-seed0"])


def test_run_config_is_immutable() -> None:
    run = mixture_run()
    with pytest.raises(ValidationError):
        run.seed = 3  # type: ignore[misc]


def test_thesis_suite_reproduces_the_thesis_setup() -> None:
    suite = load_suite(ROOT / "suites" / "thesis.yaml")
    by_id = {r.id: r for r in suite.runs}
    assert len(suite.runs) == 18 and suite.baseline == "srfb-fixed"
    for run in suite.runs:
        assert run.dataset.name == "cifar10" and run.dataset.image_size == 32
        assert run.model.name == "sagan" and run.model.latent_dim == 128 and run.model.width == 1
        assert run.loss.name == "hinge"
        assert (run.strategy.lr_g, run.strategy.lr_d, run.strategy.betas) == (
            2e-4,
            2e-4,
            (0.5, 0.9),
        )
        assert run.batch.size == 64 and run.budget.iterations == 500_000
        assert run.evaluation.every_iterations == 5000
        fid = run.evaluation.metrics[0]  # FID against the training images (sec. 3.4)
        assert (fid.name, fid.reference.split, fid.num_samples) == ("fid", "train", 50_000)
        assert [m.name for m in run.evaluation.metrics] == ["fid", "is", "fd_classifier"]
        assert run.evaluation.targets == {"fid": 55}
    grow = by_id["srfb-grow-seed0"].batch
    assert [(m.epoch, m.size) for m in grow.milestones] == [(32, 128), (96, 256)]
    assert by_id["srfb-fixed-seed1"].strategy.delta == pytest.approx(2 / (1 + math.sqrt(5)))
    multipliers = sorted(
        r.strategy.snapshot_prob_multiplier
        for r in suite.runs
        if r.strategy.name == "svre" and r.seed == 0 and r.strategy.variant == "formula"
    )
    assert multipliers == [0.5, 1.0, 2.0]
    # Beyond the thesis: adaptive growth (noise scale measured) and the code's variants.
    assert by_id["srfb-plateau-seed0"].batch.growth.metric == "fd_classifier"
    assert by_id["srfb-noise-scale-seed0"].batch.growth.name == "noise_scale"
    assert by_id["srfb-noise-scale-seed0"].measure.noise_scale.every == 500
    variants = {r.name: r.strategy.variant for r in suite.runs if r.seed == 0}
    assert variants["srfb-thesis-code"] == variants["svre-thesis-code"] == "thesis-code"
    assert sum(v == "formula" for v in variants.values()) == 7


def test_quick_suite_compares_the_four_strategies_on_fashion_mnist() -> None:
    suite = load_suite(ROOT / "suites" / "quick.yaml")
    names = ["alternating", "srfb", "svre", "srfb-grow"]
    # three seeds (intervals in reports) in blocks, every strategy once per block, rotated
    assert [r.name for r in suite.runs] == [*names, *names[1:], names[0], *names[2:], *names[:2]]
    assert [r.seed for r in suite.runs] == [0] * 4 + [1] * 4 + [2] * 4
    assert suite.baseline == "alternating"
    assert {r.dataset.name for r in suite.runs} == {"fashion-mnist"}
    assert suite.runs[3].batch.sizes == [64, 128, 256]
    for run in suite.runs:  # quality with no download on a fresh CPU machine
        assert [m.name for m in run.evaluation.metrics] == ["fd_classifier"]
        assert run.evaluation.at_start and "fd_classifier" in run.evaluation.targets


BAD_RUNS = [
    (
        {"strategy": "svrg"},
        "strategy: unknown 'svrg' (did you mean `svre`?) (choose: alternating, extragradient, "
        "srfb, svre)",
    ),
    (
        {"strategy": {"name": "srfb", "delta": 0.5}},
        "strategy.delta: Input should be greater than or equal to 0.618",
    ),
    ({"batch": {"size": -4}}, "batch.size: Input should be greater than 0 (got -4)"),
    (
        {"model": {"name": "mlp", "widht": 2}},
        "model.widht: unknown field (did you mean `width`?) (allowed: name, latent_dim, width, "
        "d_minibatch_std",
    ),
    ({"optimiser": "adam"}, "optimiser: unknown field (allowed: name, seed, dataset, model"),
    ({"model": "sagan"}, "model: sagan needs images (C, H, W), the dataset gives (2,)"),
    ({"batch": {"size": 512}}, "batch: size 512 exceeds the 256 examples of the dataset"),
    ({"device": "tpu"}, "device: Input should be 'auto', 'cpu' or 'cuda' (got 'tpu')"),
    (
        {"budget": {"iterations": None}},
        "budget: set at least one of iterations, epochs, wall_seconds",
    ),
    (
        {"dataset": {"name": "cifar10", "image_size": 30}, "model": "dcgan"},
        "model: dcgan needs square images of 8, 16, 32, 64 ... px, got 30x30",
    ),
    (
        {
            "batch": {
                "size": 32,
                "milestones": [{"epoch": 2, "size": 64}, {"epoch": 1, "size": 128}],
            }
        },
        "batch: milestones: must be strictly increasing, got [2.0, 1.0]",
    ),
    (
        {"batch": {"size": 32, "milestones": [{"size": 64}]}},
        "batch.milestones[0]: give exactly one of epoch or iteration",
    ),
]


@pytest.mark.parametrize("change, message", BAD_RUNS, ids=[m.split(":")[0] for _, m in BAD_RUNS])
def test_bad_runs_name_the_field_and_the_problem(write_suite, change, message) -> None:
    suite = tiny_suite()
    suite["runs"] = [{"name": "bad", **change}]
    with pytest.raises(UserError) as info:
        load_suite(write_suite(suite))
    text = str(info.value)
    assert "run 'bad' (runs[0]): " in text
    assert message in text, text


def test_a_section_without_a_name_lists_the_choices(write_suite) -> None:
    suite = tiny_suite()
    del suite["defaults"]["dataset"]
    suite["runs"] = [{"name": "bad", "dataset": {"subset": 10}}]
    with pytest.raises(UserError, match=r"dataset: missing name \(choose: cifar10, fashion-mnist"):
        load_suite(write_suite(suite))


def test_every_problem_of_a_suite_is_reported_at_once(write_suite) -> None:
    suite = tiny_suite()
    suite["runs"] = [{"name": "a", "strategy": "svrg"}, {"name": "b", "batch": {"size": 0}}]
    with pytest.raises(UserError) as info:
        load_suite(write_suite(suite))
    assert len(str(info.value).splitlines()) == 2


def test_set_errors_point_at_the_override_once(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {"seed": [0, 1, 2]}
    path = write_suite(suite)
    with pytest.raises(UserError) as info:
        load_suite(path, ["strategy=srfb", "strategy.delta=2"])
    assert str(info.value).startswith("--set strategy.delta=2: Input should be less than")
    assert len(str(info.value).splitlines()) == 1  # not once per run
    with pytest.raises(UserError, match=r"--set model.widht=2: unknown field \(did you mean"):
        load_suite(path, ["model.widht=2"])
    with pytest.raises(UserError, match="--set budget: expected path=value"):
        load_suite(path, ["budget"])
    with pytest.raises(UserError, match=r"unknown 'SRFB' \(did you mean `srfb`\?\)"):
        load_suite(path, ["strategy.name=SRFB"])  # a name in the wrong case


def test_a_set_mapping_or_list_replaces_what_the_suite_has(write_suite) -> None:
    """``--set X={...}`` makes X that mapping (``{}`` clears it); a dotted path changes one
    field; a named section keeps its name; a matrix axis still merges into defaults."""
    suite = tiny_suite(
        strategy={"name": "srfb", "lr_g": 0.01, "delta": 0.7},
        evaluation={"every_iterations": 3, "metrics": [{"name": "fd_classifier"}],
                    "targets": {"fd_classifier": 250}},
    )  # fmt: skip
    suite["matrix"] = {"model": [{"hidden": 8}, {"hidden": 32}]}
    path = write_suite(suite)
    with pytest.raises(UserError) as info:  # the suite's target is of a metric now dropped
        load_suite(path, ["evaluation.metrics=[{name: mixture}]"])
    message = str(info.value)
    assert message.startswith("--set evaluation.metrics=") and "evaluation: targets:" in message
    assert "--set evaluation.targets={}" in message and len(message.splitlines()) == 1
    runs = load_suite(path, ["evaluation.metrics=[{name: mixture}]", "evaluation.targets={}"]).runs
    assert [m.name for m in runs[0].evaluation.metrics] == ["mixture"]
    assert runs[0].evaluation.targets == {} and runs[0].evaluation.every_iterations == 3
    (run,) = load_suite(path, ["strategy={delta: 0.9}"], only=["model0"]).runs
    assert (run.strategy.name, run.strategy.delta) == ("srfb", 0.9)
    assert run.strategy.lr_g != 0.01  # replaced: the suite's lr_g is gone
    (run,) = load_suite(path, ["strategy.delta=0.9"], only=["model0"]).runs
    assert (run.strategy.delta, run.strategy.lr_g) == (0.9, 0.01)  # one field changed
    assert [r.model.latent_dim for r in runs] == [4, 4]  # the axis merged into defaults
    (run,) = load_suite(path, ["model={name: mlp, hidden: 5}"], only=["model1"]).runs
    assert (run.model.hidden, run.model.latent_dim) == (5, 128)  # defaults, not the suite's


def test_a_typo_in_defaults_is_blamed_on_defaults_once(write_suite) -> None:
    suite = tiny_suite(model={"name": "mlp", "hiden": 64}, strategy={"name": "srbf"})
    suite["runs"] = [{"name": "a"}, {"name": "b", "batch": {"sise": 3}}]
    with pytest.raises(UserError) as info:
        load_suite(write_suite(suite))
    lines = str(info.value).splitlines()
    assert len(lines) == 3, lines
    assert lines[0].endswith(
        "suite.yaml: defaults: model.hiden: unknown field (did you mean `hidden`?) "
        "(allowed: name, latent_dim, width, d_minibatch_std, d_minibatch_kernels, "
        "d_minibatch_kernel_dim, hidden, depth, g_norm, g_spectral_norm, d_spectral_norm)"
    )
    assert "defaults: strategy: unknown 'srbf' (did you mean `srfb`?)" in lines[1]
    assert "run 'b' (runs[1]): batch.sise: unknown field (did you mean `size`?)" in lines[2]


def test_suite_level_errors(write_suite, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="suite file not found"):
        load_suite(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ndefaults: {model: [\n")
    with pytest.raises(UserError, match=r"broken.yaml: line \d+, column \d+: invalid YAML"):
        load_suite(broken)
    with pytest.raises(UserError, match="name: String should match pattern"):
        load_suite(write_suite({**tiny_suite(), "name": "has space"}))
    with pytest.raises(UserError, match=r"baseline: unknown run 'nope' \(choose: tiny\)"):
        load_suite(write_suite({**tiny_suite(), "baseline": "nope"}))
    suite = tiny_suite()
    suite["runs"] = [{"name": "a"}, {"name": "a"}]
    with pytest.raises(UserError, match="runs share an id: a-seed0"):
        load_suite(write_suite(suite))


def test_empty_matrix_axes_are_refused(write_suite) -> None:
    suite = tiny_suite()
    suite["matrix"] = {"seed": [], "strategy": ["srfb"]}
    with pytest.raises(UserError, match="matrix: axes without values: seed"):
        load_suite(write_suite(suite))


def test_a_bare_name_finds_the_shipped_suite(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # not the checkout: found next to the package
    found = load_suite(Path("quick")).source
    assert found.resolve() == (ROOT / "suites" / "quick.yaml").resolve()
    with pytest.raises(UserError, match="nothere: suite file not found"):
        load_suite(Path("nothere"))


def test_parse_helpers() -> None:
    assert parse_overrides(["a.b=0.5", "c=true", "d=[1, 2]", "e=srfb"]) == [
        ("a.b", 0.5),
        ("c", True),
        ("d", [1, 2]),
        ("e", "srfb"),
    ]
    assert parse_seeds("0,1,2") == [0, 1, 2]
    for bad in ("a,b", "-1", "1,1", ""):
        with pytest.raises(UserError, match="--seeds"):
            parse_seeds(bad)


def test_training_identity_ignores_budget_and_bookkeeping() -> None:
    a = mixture_run()
    b = mixture_run(budget={"iterations": 99}, log_every=3, device="auto")
    c = mixture_run(strategy={"name": "alternating", "lr_g": 5e-4})
    assert a.training_identity() == b.training_identity()
    assert a.training_identity() != c.training_identity()
    assert isinstance(a, RunConfig)


def test_the_suite_files_page_example_expands_as_documented(tmp_path: Path) -> None:
    text = docs_text("suites.md")
    start = text.index("```yaml\nname: demo") + len("```yaml\n")
    example = tmp_path / "demo.yaml"
    example.write_text(text[start : text.index("```", start)])
    suite = load_suite(example)
    assert len(suite.runs) == 12 and suite.baseline == "srfb-fixed"
    assert suite.runs[0].id == "srfb-fixed-seed0" and suite.runs[-1].id == "srfb-grow-seed2"
