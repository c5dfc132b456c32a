"""The ``sim`` command: verbs, their ``--help``, bad keys, and Hydra's override rules kept.

In-process calls of the console script's entry function (``sim.faces.commands.main``): no
subprocess, no simulation. The help and one bad key are in the fast tier; the other refusals each
compose a config or two with Hydra (about half a second), so they are in the slow tier, which
also runs the verbs for real (tests/test_cli.py, test_forecast.py, test_validate.py,
test_estimate.py, test_calibrate.py; test_run_dirs.py has more refusals).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sim.experiments.sweep import job_overrides
from sim.faces.commands import VERBS, main, split_verb
from tests.conftest import ROOT

STUDIES = ["validate", "estimate", "forecast", "calibrate", "sensitivity", "aggregate"]


@pytest.fixture(autouse=True)
def _quiet_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Expected failures as messages (not tracebacks), and nothing written into the checkout."""
    monkeypatch.setenv("SIM_DEBUG", "0")
    monkeypatch.chdir(tmp_path)


def test_the_console_script_is_the_dispatcher():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"sim": "sim.faces.commands:cli"}
    main_module = (ROOT / "sim" / "__main__.py").read_text()
    assert "from sim.faces.commands import cli" in main_module  # python -m sim is sim


# The console script's exit skips the interpreter's teardown: the exit handlers must still run
# (here one registered before the command, as logging's and the helpers' are) after the
# command's output, which must arrive whole through a pipe, with the command's exit code.
EXIT = """
import atexit, sys
atexit.register(lambda: print("exit handler ran"))
from sim.faces.commands import cli
sys.argv = ["sim", *sys.argv[1:]]
cli()
"""


@pytest.mark.parametrize(("args", "code"), [(["--help"], 0), (["nosuchverb"], 2)])
def test_the_console_script_exits_with_the_commands_code_after_its_exit_handlers(args, code):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", EXIT, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == code, out.stderr
    assert out.stdout.rstrip().endswith("exit handler ran")
    if code == 0:
        assert out.stdout.startswith("usage: sim [VERB]")
    else:
        assert "nosuchverb: is not a verb of sim" in out.stderr


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_has_a_help_with_its_description_examples_and_keys(verb, capsys):
    assert main([verb, "--help"]) == 0
    out = capsys.readouterr().out
    spec = VERBS[verb]
    assert out.startswith(f"usage: sim {verb} ")
    assert " ".join(spec.description.split()[:6]) in " ".join(out.split())
    examples = out.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert 2 <= len(examples) <= 4 and all(line.startswith(f"  sim {verb}") for line in examples)
    keys = out.split("keys (default):\n")[1]
    assert "=" in keys.splitlines()[0]
    assert "powered by Hydra" not in out and len(out.splitlines()) < 80


def test_study_help_lists_each_key_with_its_default(capsys):
    assert main(["validate", "-h"]) == 0
    out = capsys.readouterr().out
    keys = [
        line.split()[0]
        for line in out.split("keys (default):\n")[1].split("\n\n")[0].splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    ]
    assert keys == [
        "seeds=5",
        "out=docs",
        "model_overrides=[]",
        "runs_dir=results/validate/runs",
        "launcher=parallel",
        "workers=2",
        "launcher_overrides=[]",
        "force=false",
    ]


def test_sim_help_names_every_verb_and_the_keys_of_run(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sim [VERB]")
    for verb in VERBS:
        assert f"\n  {verb} " in out
    assert "  scenario=history " in out and "  counterfactual=no_policy " in out
    assert "market.shoppers.n_agents=20000" in out
    assert "powered by Hydra" not in out


@pytest.mark.parametrize(
    ("argv", "verb", "rest"),
    [
        ([], None, []),
        (["scenario=ban_only", "seed=3"], None, ["scenario=ban_only", "seed=3"]),
        (["--multirun", "seed=0,1"], None, ["--multirun", "seed=0,1"]),
        (["-m", "seed=0,1"], None, ["-m", "seed=0,1"]),
        (["run", "--multirun", "seed=0,1"], "run", ["--multirun", "seed=0,1"]),
        (["validate", "seeds=2"], "validate", ["seeds=2"]),
        (["hydra/launcher=parallel"], None, ["hydra/launcher=parallel"]),
        (["~counterfactual"], None, ["~counterfactual"]),
    ],
)
def test_a_verb_is_a_first_argument_without_equals_or_dash(argv, verb, rest):
    assert split_verb(argv) == (verb, rest)


@pytest.mark.parametrize(
    "verb", [pytest.param(v, marks=() if v == "validate" else pytest.mark.slow) for v in STUDIES]
)
def test_a_bad_key_exits_2_with_one_line_naming_it(verb, capsys):
    assert main([verb, "seedz=3"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    naming = [line for line in err.splitlines() if "seedz" in line]
    assert len(naming) == 1 and naming[0].startswith(f"error: seedz: is not a key of sim {verb}")
    assert not list(Path.cwd().rglob("*"))  # nothing written


# Two Hydra compositions each (the study's keys, then the model's): one study in the fast tier.
@pytest.mark.parametrize(
    "verb",
    [
        pytest.param(v, marks=() if v == "validate" else pytest.mark.slow)
        for v in ("validate", "estimate", "forecast", "calibrate", "sensitivity")
    ],
)
def test_a_bad_model_override_exits_2_naming_the_model_key(verb, capsys):
    assert main([verb, 'model_overrides=["market.shoppers.n_agentz=3"]']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: market.shoppers.n_agentz: ") and "Traceback" not in err
    assert not list(Path.cwd().rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["validate", "seeds=abc"], "error: seeds: Value 'abc'"),
        (
            ["validate", "--seeds", "3"],
            "error: --seeds: flags are not options of sim validate; give seeds=VALUE",
        ),
        (["validate", "launcher=cloud"], "error: launcher: 'cloud' is not a launcher"),
        (["validate", 'launcher_overrides=["seed=1"]'], "error: launcher_overrides: 'seed=1'"),
        (["estimate", "seeds=1"], "error: seeds: must be at least 2"),
        (["estimate", "before=soon"], "error: before: 'soon' is not a date"),
        (["aggregate"], "error: sweep_dir: is required"),
        (["aggregate", "/no/such/sweep"], "error: /no/such/sweep: is not a key=value override"),
        (["measure", "market.shoppers.n_agentz=3"], "error: market.shoppers.n_agentz: "),
        (["calibrate", "promote=/no/such.yaml"], "error: promote: /no/such.yaml is not a file"),
        (["frobnicate"], "error: frobnicate: is not a verb of sim"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(fragment) and "Traceback" not in err, err
    assert not list(Path.cwd().rglob("*"))


@pytest.mark.slow
def test_cfg_job_prints_a_studys_composed_config(capsys):
    assert main(["forecast", "draws=7", "launcher=serial", "--cfg", "job"]) == 0
    out = capsys.readouterr().out
    assert "draws: 7\n" in out and "launcher: serial\n" in out and "seeds: 2\n" in out


def test_job_overrides_follow_the_basic_sweepers_rules():
    assert job_overrides(["a=1,2", "b=3"]) == [["a=1", "b=3"], ["a=2", "b=3"]]
    # A later value of a key replaces the earlier one, which keeps its place in the job.
    assert job_overrides(["seed=range(2)", "scenario=x,y", "seed=5"]) == [
        ["seed=5", "scenario=x"],
        ["seed=5", "scenario=y"],
    ]
    assert job_overrides(["+x=1", "z=[1,2]", "w=choice(a,b)", 'q="a,b"']) == [
        ["+x=1", "z=[1,2]", "w=a", 'q="a,b"'],
        ["+x=1", "z=[1,2]", "w=b", 'q="a,b"'],
    ]
    assert job_overrides([]) == [[]]


@pytest.mark.slow
def test_measure_prints_one_json_object_from_a_fresh_process(capsys):
    import json

    tiny = ["market.shoppers.n_agents=300", "market.msmes.n_agents=100", "scenario=no_policy"]
    assert main(["measure", *tiny, "end_date=2021-06-28"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["shoppers"] == 300 and report["msmes"] == 100 and report["weeks"] == 26
    assert report["wall_s"] > 0 and report["peak_rss_mb"] > 0
