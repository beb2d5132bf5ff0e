"""Every option of every command, given hostile values, ends in a one-line refusal (argparse's
exit status 2, or a ReproduceError the command line prints as one line), never a traceback.

The options come from the parser itself, so an option added later is walked too. Parsing and the
checks that run before any training happen in-process; a few cases run the real command line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reproduce import cli, settings
from reproduce.commands import data as data_command
from reproduce.commands import quick_preset, train
from reproduce.comparison import run_compare
from reproduce.data import resolve_data
from reproduce.errors import ReproduceError

REPO = Path(__file__).resolve().parents[1]
FILE = "existing-file"  # created in the working folder of each test
HOSTILE = ["inf", "-inf", "nan", "-1", "0", "1e400", "1e30", "1.5", str(2**64), str(2**32)]
HOSTILE += [str(2**31 - 1), "1e-300"]  # the largest whole number the parser takes; a tiny one
HOSTILE += ["abc", "", FILE, f"{FILE}/child", "x" * 5000]


def _walk():
    """(command, option string or None for a positional, the action) for every option."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.nargs != 0 and not isinstance(action, argparse._HelpAction):
                yield name, (action.option_strings or [None])[0], action


OPTIONS = sorted(((name, option) for name, option, _ in _walk()), key=str)


def test_the_walk_covers_every_command_and_the_options_that_take_values():
    commands = {name for name, _ in OPTIONS}
    assert commands >= {*settings.MODELS, "all", "data", "make-data", "figures", "compare"}
    walked = {(name, option) for name, option in OPTIONS}
    for expected in [("odenet", "--rtol"), ("all", "--step-size"), ("dense", "--seed"),
                     ("resnet", "--train-seeds"), ("figures", "--out"), ("make-data", None),
                     ("compare", "--runs"), ("data", "--data")]:  # fmt: skip
        assert expected in walked, expected


def _check_before_training(args: argparse.Namespace, tmp_path: Path) -> None:
    """What the command checks before it trains or draws anything (cheap, in-process)."""
    if args.command in (*settings.MODELS, "all"):
        train.check_limits(args)
        models = settings.MODELS if args.command == "all" else (args.command,)
        for seed in train.training_seeds(args) or [None]:
            for model in models:
                config = train.resolve_options(model, args, seed)
                config.run_dir("stand-in")
                if model == "odenet":
                    assert config.solver  # the library's own checks of the solver options
    elif args.command == "data":
        resolve_data(args.data)
    elif args.command == "make-data":
        args.n = 1  # what is checked here is OUT and --seed, not a stand-in's size
        data_command.run_make_data(args)
    elif args.command == "compare":
        run_compare(args.runs, args.out, args.data, compute_shares=False, command="test")
    elif args.command == "quick-preset":
        quick_preset.select(args.runs)


@pytest.fixture(scope="module")
def small_data() -> bytes:
    """A train.json of 20 stand-in records, quick to read and check."""
    from reproduce.data import stand_in_json_bytes

    return stand_in_json_bytes(20, 0)


def _required(command: str, option: str | None) -> list[str]:
    return ["out-folder"] if command == "make-data" and option is not None else []


@pytest.mark.parametrize("command, option", OPTIONS, ids=[f"{c} {o}" for c, o in OPTIONS])
def test_hostile_values_end_in_one_line(command, option, small_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.json").write_bytes(small_data)
    monkeypatch.setenv("ICEBERG_DATA", str(tmp_path / "train.json"))
    Path(FILE).write_text("not a folder")
    parser = cli.build_parser()
    for value in HOSTILE:
        argv = [command, *_required(command, option), *([option] if option else []), value]
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit:
            assert exit.code == 2, argv
            last = capsys.readouterr().err.strip().splitlines()[-1]
            assert last.startswith(f"python -m reproduce {command}: error: "), (argv, last)
            # argparse names a type by its function: a readable one, never a private helper
            assert re.search(r"invalid (?!int |float |choice)", last) is None, (argv, last)
            continue
        try:
            _check_before_training(args, tmp_path)
        except ReproduceError as err:
            assert "\n" not in str(err) and "Traceback" not in str(err), (argv, err)


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "reproduce", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["odenet", "--rtol", "inf"], "argument --rtol: must be a positive finite number"),
        (["figures", "--out", FILE], f"argument --out: must name a folder: {FILE} is a file"),
        (["dense", "--data", "20.json", "--limit-train", "5000"], "the split of these 20 records"),
    ],
    ids=["odenet --rtol inf", "figures --out FILE", "dense --limit-train 5000"],
)
def test_the_command_line_ends_in_one_line_and_exit_status_2(argv, expected, tmp_path):
    from reproduce.data import stand_in_json_bytes

    (tmp_path / FILE).write_text("not a folder")
    (tmp_path / "20.json").write_bytes(stand_in_json_bytes(20, 0))
    result = _run(*argv, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr.strip().splitlines()[-1]


def test_a_bad_argument_is_one_line_on_stderr_with_exit_status_2():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "reproduce", "odenet", "--rtol", "inf"],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--rtol" in done.stderr and "--help" in done.stderr


def test_output_into_a_pipe_closed_early_ends_quietly(tmp_path):
    """``... | head -3``: the reader leaves before the command writes; no traceback follows."""
    from reproduce.data import stand_in_json_bytes

    (tmp_path / "20.json").write_bytes(stand_in_json_bytes(20, 0))
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "reproduce", "data", "--data", "20.json"]
    try:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr.decode() and "BrokenPipeError" not in done.stderr.decode()
    assert done.returncode == 1
