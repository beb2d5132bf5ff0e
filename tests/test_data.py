"""Reading train.json: schema checks, clear errors, 7z, writing, choosing the data, the commands."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import py7zr
import pytest

from reproduce import cli, data
from reproduce.commands.data import summarise
from reproduce.data import (
    DataSource,
    load_train_json,
    reading,
    resolve_data,
    source,
    write_train_json,
    writing,
)
from reproduce.data import records as records_module
from reproduce.data.synthetic import synthetic_train
from reproduce.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base_records() -> list[dict]:
    records = synthetic_train(4, seed=1)
    records[1]["inc_angle"] = "na"
    return records


@pytest.fixture
def records(base_records) -> list[dict]:
    return copy.deepcopy(base_records)


def dump(path: Path, value, **kwargs) -> Path:
    """Write with the standard library, not with the code under test."""
    path.write_text(json.dumps(value, **kwargs))
    return path


def make_7z(path: Path, members: dict[str, bytes]) -> Path:
    with py7zr.SevenZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(content, name)
    return path


# ---------------------------------------------------------------------------
# Reading valid files


def test_load_gives_the_contract_frame(tmp_path, records):
    frame = load_train_json(dump(tmp_path / "train.json", records))
    assert list(frame.columns) == ["id", "band_1", "band_2", "inc_angle", "is_iceberg"]
    assert len(frame) == len(records)
    for row, record in zip(frame.itertuples(), records):
        assert row.id == record["id"]
        for band in ("band_1", "band_2"):
            cell = getattr(row, band)
            assert (
                isinstance(cell, np.ndarray) and cell.dtype == np.float64 and cell.shape == (5625,)
            )
            assert cell.tolist() == record[band]  # exact, element by element, in file order
        if record["inc_angle"] == "na":
            assert math.isnan(row.inc_angle)
        else:
            assert row.inc_angle == record["inc_angle"]
        assert row.is_iceberg == record["is_iceberg"]
    assert frame["is_iceberg"].dtype == np.int64
    assert frame["inc_angle"].dtype == np.float64


def test_load_accepts_str_path_integers_and_extra_fields(tmp_path, records):
    records[0]["band_1"] = [int(round(v)) for v in records[0]["band_1"]]
    records[0]["comment"] = "extra fields are ignored"
    records[2]["is_iceberg"] = float(records[2]["is_iceberg"])
    path = dump(tmp_path / "train.json", records, indent=1)
    frame = load_train_json(str(path))
    assert frame["band_1"][0].tolist() == records[0]["band_1"]
    assert list(frame.columns) == list(records_module.COLUMNS)
    assert frame["is_iceberg"][2] == int(records[2]["is_iceberg"])


# ---------------------------------------------------------------------------
# Bad input: each case names the file, the record and the field


def _set(index, field, value):
    def mutate(records):
        records[index][field] = value
        return records

    return mutate


def _set_pixel(index, field, position, value):
    def mutate(records):
        records[index][field][position] = value
        return records

    return mutate


def _drop(index, field):
    def mutate(records):
        del records[index][field]
        return records

    return mutate


def _duplicate_id(records):
    records[3]["id"] = records[1]["id"]
    return records


BAD_RECORDS = {
    "top level is an object": (
        lambda r: {"records": r},
        ["expected a JSON list", 'object with keys ["records"]'],
    ),
    "top level is a number": (lambda r: 3, ["expected a JSON list", "number 3"]),
    "empty list": (lambda r: [], ["empty", "at least one record"]),
    "record not an object": (
        lambda r: [r[0], [1, 2]],
        ["record 1", "expected a JSON object", "list of 2"],
    ),
    "missing band_2": (_drop(2, "band_2"), ["record 2", "missing field 'band_2'"]),
    "missing is_iceberg": (_drop(0, "is_iceberg"), ["record 0", "missing field 'is_iceberg'"]),
    "missing id": (_drop(3, "id"), ["record 3", "missing field 'id'"]),
    "id a number": (_set(1, "id", 7), ["record 1", "field 'id'", "non-empty string", "number 7"]),
    "band too short": (
        lambda r: _set(2, "band_1", r[2]["band_1"][:5624])(r),
        ["record 2", "'band_1'", "5625", "found 5624 values"],
    ),
    "band too long": (
        lambda r: _set(0, "band_2", r[0]["band_2"] * 2)(r),
        ["record 0", "'band_2'", "found 11250 values"],
    ),
    "band not a list": (
        _set(1, "band_1", "lots of pixels"),
        ["record 1", "'band_1'", 'the string "lots of pixels"'],
    ),
    "band pixel a string": (
        _set_pixel(3, "band_2", 17, "-20.5"),
        ["record 3", "'band_2'", "value 17", "string"],
    ),
    "band pixel null": (
        _set_pixel(0, "band_1", 5, None),
        ["record 0", "'band_1'", "value 5 is null"],
    ),
    "band pixel true": (_set_pixel(0, "band_1", 9, True), ["'band_1'", "value 9 is true"]),
    "band pixel a list": (
        _set_pixel(2, "band_2", 0, [1.0]),
        ["'band_2'", "value 0 is a list of 1"],
    ),
    "band pixel NaN": (
        _set_pixel(1, "band_1", 3, float("nan")),
        ["record 1", "'band_1'", "value 3 is nan", "finite"],
    ),
    "band pixel Infinity": (
        _set_pixel(1, "band_2", 4, float("inf")),
        ["'band_2'", "value 4 is inf", "finite"],
    ),
    "band pixel implausible": (
        _set_pixel(3, "band_1", 42, 1e30),
        ["record 3", "'band_1'", "value 42 is 1e+30", "|value| <= 1000"],
    ),
    "band pixel just too large": (_set_pixel(0, "band_2", 1, -1000.5), ["value 1 is -1000.5"]),
    # Beyond float32 (what the models train on): refused here, not as an overflow in training.
    "band pixel beyond float32": (
        _set_pixel(2, "band_2", 7, 1e39),
        ["record 2", "'band_2'", "value 7 is 1e+39", "|value| <= 1000"],
    ),
    "band pixel huge integer": (
        _set_pixel(2, "band_1", 0, 10**400),
        ["'band_1'", "finite numbers"],
    ),
    "angle a word": (
        _set(2, "inc_angle", "unknown"),
        ["record 2", "'inc_angle'", 'or "na"', 'string "unknown"'],
    ),
    "angle null": (_set(0, "inc_angle", None), ["'inc_angle'", "null"]),
    "angle infinite": (_set(0, "inc_angle", float("-inf")), ["'inc_angle'", "-inf"]),
    "label 2": (
        _set(1, "is_iceberg", 2),
        ["record 1", "'is_iceberg'", "0 (ship) or 1 (iceberg)", "number 2"],
    ),
    "label a string": (_set(1, "is_iceberg", "1"), ["'is_iceberg'", 'string "1"']),
    "label true": (_set(3, "is_iceberg", True), ["record 3", "'is_iceberg'", "found true"]),
    "duplicate ids": (_duplicate_id, ["records 1 and 3 share the id", "unique"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_records_raise_data_error_naming_file_record_field(tmp_path, records, case):
    mutate, expected = BAD_RECORDS[case]
    path = dump(tmp_path / "train.json", mutate(records))
    with pytest.raises(DataError) as info:
        load_train_json(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)


def test_error_names_the_record_id(tmp_path, records):
    records[2]["band_1"] = records[2]["band_1"][:10]
    path = dump(tmp_path / "train.json", records)
    with pytest.raises(DataError, match=rf"record 2 \(id '{records[2]['id']}'\): field 'band_1'"):
        load_train_json(path)


BAD_BYTES = {
    "empty file": (b"", ["empty"]),
    "only whitespace": (b" \n\t ", ["empty"]),
    "not JSON": (b"id,band_1\n1,2\n", ["not valid JSON", "line 1, column 1"]),
    "not UTF-8": (b'[{"id": "\xff\xfe"}]', ["not valid JSON"]),
    "truncated": (b'[{"id": "a", "band_1": [1.0, 2.', ["not valid JSON", "truncated"]),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_bad_bytes_raise_data_error(tmp_path, case):
    content, expected = BAD_BYTES[case]
    path = tmp_path / "train.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_train_json(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message, (part, message)


def test_a_list_of_numbers_is_refused_before_allocating_images(tmp_path):
    """Sizing the images by the list's length would ask for about 27 GB here."""
    path = dump(tmp_path / "train.json", list(range(300_000)))
    with pytest.raises(DataError, match=r"record 0: expected a JSON object, found the number 0"):
        load_train_json(path)


def test_files_and_archives_larger_than_kaggles_are_refused(tmp_path, records, monkeypatch):
    plain = dump(tmp_path / "train.json", records)
    archive = make_7z(tmp_path / "train.json.7z", {"train.json": plain.read_bytes()})
    monkeypatch.setattr(reading, "MAX_BYTES", archive.stat().st_size + 10)
    for path in (plain, Path("/dev/zero")):
        with pytest.raises(DataError, match=rf"^{path}: larger than \d+ bytes"):
            load_train_json(path)
    with pytest.raises(DataError, match=r"train.json.7z \(member train.json\): larger than"):
        load_train_json(archive)


def _peak_bytes(function, *args) -> int:
    """The most memory Python allocated while ``function(*args)`` ran (it raises DataError)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="larger than"):
            function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


CAP = 4 * 1024**2  # a small stand-in for reading.MAX_BYTES


def test_a_plain_file_above_the_cap_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", CAP)
    path = tmp_path / "train.json"
    with open(path, "wb") as handle:  # sparse: its size costs no disk
        handle.truncate(1024**4)
    assert _peak_bytes(load_train_json, path) < CAP / 4


def test_a_character_device_is_read_only_up_to_the_cap(monkeypatch):
    monkeypatch.setattr(reading, "MAX_BYTES", CAP)
    assert CAP < _peak_bytes(load_train_json, "/dev/zero") < 2 * CAP


def test_an_archive_understating_its_member_is_stopped_at_the_cap(tmp_path, monkeypatch):
    """A member larger than its header says is refused when the bytes pass the cap."""
    archive = make_7z(tmp_path / "train.json.7z", {"train.json": b" " * (3 * CAP)})
    listed = py7zr.SevenZipFile.list

    def understated(self):
        infos = listed(self)
        for info in infos:
            info.uncompressed = 1
        return infos

    monkeypatch.setattr(reading, "MAX_BYTES", CAP)
    monkeypatch.setattr(py7zr.SevenZipFile, "list", understated)
    with pytest.raises(DataError, match=r"train.json.7z \(member train.json\): larger than"):
        load_train_json(archive)


def test_make_data_refuses_more_records_than_a_run_reads(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["make-data", "out", "--n", "2501"])
    assert exit.value.code == 2
    assert "argument --n: must be from 1 to 2500" in capsys.readouterr().err


def test_truncated_real_file_says_where(tmp_path, records):
    text = json.dumps(records)
    path = tmp_path / "train.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"line 1, column \d+ \(character \d+\).*truncated"):
        load_train_json(path)


@pytest.mark.parametrize(
    "content",
    [b"hello", b"[1,]", b'{"a" 1}', b"[1] x", b'[{"id": "a"} {"id": "b"}]', b"nan"],
)
def test_short_invalid_files_are_not_called_truncated(tmp_path, content):
    """Invalid text that is complete is not "truncated", however short the file."""
    path = tmp_path / "train.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_train_json(path)
    assert "not valid JSON" in str(info.value) and "truncated" not in str(info.value)


@pytest.mark.parametrize("cut", [5, 20, 41])
def test_a_file_cut_anywhere_is_called_truncated(tmp_path, records, cut):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records)[:cut])
    with pytest.raises(DataError, match="truncated"):
        load_train_json(path)


def test_unusable_names(tmp_path):
    with pytest.raises(DataError, match="not a usable file name"):
        load_train_json(str(tmp_path / "a\0b.json"))
    with pytest.raises(DataError, match="must be a file name"):
        load_train_json(42)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="nothing.json: file not found"):
        load_train_json(tmp_path / "nothing.json")
    with pytest.raises(DataError, match="is a directory"):
        load_train_json(tmp_path)


# ---------------------------------------------------------------------------
# 7z archives


def test_7z_round_trip_matches_plain_json(tmp_path, records):
    plain = dump(tmp_path / "train.json", records)
    archive = make_7z(tmp_path / "train.json.7z", {"data/processed/train.json": plain.read_bytes()})
    from_json = load_train_json(plain)
    from_7z = load_train_json(archive)
    pd.testing.assert_frame_equal(from_json, from_7z)


def test_7z_with_several_files_picks_train_json(tmp_path, records):
    archive = make_7z(
        tmp_path / "kaggle.7z",
        {
            "README.json": b'{"not": "records"}',
            "train.json": json.dumps(records[:2]).encode(),
            "notes.txt": b"x",
        },
    )
    assert len(load_train_json(archive)) == 2


def test_7z_without_json(tmp_path):
    archive = make_7z(tmp_path / "train.json.7z", {"train.csv": b"a,b\n"})
    with pytest.raises(
        DataError,
        match=r"train.json.7z: the 7z archive holds no .json file \(it holds: train.csv\)",
    ):
        load_train_json(archive)


def test_7z_errors_inside_the_member_name_it(tmp_path, records):
    records[0]["is_iceberg"] = 5
    archive = make_7z(tmp_path / "train.json.7z", {"train.json": json.dumps(records[:1]).encode()})
    with pytest.raises(
        DataError, match=r"train.json.7z \(member train.json\): record 0 .*'is_iceberg'"
    ):
        load_train_json(archive)


def test_damaged_7z_and_fake_7z(tmp_path, records):
    good = make_7z(
        tmp_path / "good.7z", {"train.json": json.dumps(records[:1]).encode()}
    ).read_bytes()
    damaged = tmp_path / "damaged.json.7z"
    damaged.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="damaged.json.7z: cannot unpack the 7z archive"):
        load_train_json(damaged)
    fake = dump(tmp_path / "train.json.7z", records)
    with pytest.raises(DataError, match="not a 7z archive"):
        load_train_json(fake)


# ---------------------------------------------------------------------------
# Writing


def test_written_bytes_equal_standard_json_and_read_back_exactly(tmp_path, records):
    path = tmp_path / "train.json"
    sha = write_train_json(records, path)
    written = path.read_bytes()
    assert written == json.dumps(records, separators=(",", ":")).encode()
    assert sha == hashlib.sha256(written).hexdigest()
    frame = load_train_json(path)
    assert [band.tolist() for band in frame["band_2"]] == [r["band_2"] for r in records]


def test_write_a_loaded_frame_reproduces_the_file(tmp_path, records):
    first = tmp_path / "first.json"
    write_train_json(records, first)
    second = tmp_path / "second.json"
    write_train_json(load_train_json(first), second)
    assert first.read_bytes() == second.read_bytes()


def test_number_formatting_matches_json_for_edge_values():
    rng = np.random.default_rng(3)
    rows = np.array(
        [
            np.round(rng.uniform(-46, 36, 50), 4),  # like the bands
            np.round(rng.uniform(-1e6, 1e6, 50), 4),  # long integer parts
            np.concatenate(
                [[0.0, 1e-4, -1e-4, 5.0, -5.0, 0.5, 10.0, 99.9999, 123456789.0001], np.zeros(41)]
            ),
            np.concatenate([[-0.0, 1.0], np.zeros(48)]),  # negative zero: slow path
            rng.normal(size=50),  # not multiples of 1e-4: slow path
            np.concatenate([[1e-7, 1e20, -3.5e-5], np.ones(47)]),
        ]
    )
    formatted = writing._format_rows(rows)
    for row, text in zip(rows, formatted):
        assert text == json.dumps(row.tolist(), separators=(",", ":")).encode()


def test_write_is_atomic_and_refuses_invalid_records(tmp_path, records):
    path = tmp_path / "train.json"
    write_train_json(records, path)
    before = path.read_bytes()
    records[0]["band_1"][0] = float("nan")
    with pytest.raises(DataError, match="record 0"):
        write_train_json(records, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json"]  # no temporary left


def test_failed_write_leaves_the_old_file(tmp_path, records, monkeypatch):
    path = tmp_path / "train.json"
    path.write_bytes(b"old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_train_json(records, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["train.json"]


# ---------------------------------------------------------------------------
# Choosing the data


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_dataset(path: Path, records: list[dict], n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return dump(path, records[:n])


def test_explicit_path_beats_environment_and_default(clean_env, records, monkeypatch):
    explicit = _write_dataset(clean_env / "mine.json", records, 1)
    monkeypatch.setenv(data.ENV_VAR, str(_write_dataset(clean_env / "env.json", records, 2)))
    _write_dataset(clean_env / "data" / "train.json", records, 3)
    frame, source = resolve_data(str(explicit))
    assert (len(frame), source.kind, source.path) == (1, "real", str(explicit.resolve()))
    assert source.sha256 == hashlib.sha256(explicit.read_bytes()).hexdigest()
    assert source.n_records == 1
    assert source.description.startswith(f"real: {explicit.resolve()}")


def test_environment_beats_default(clean_env, records, monkeypatch):
    env_file = _write_dataset(clean_env / "env.json", records, 2)
    monkeypatch.setenv(data.ENV_VAR, str(env_file))
    _write_dataset(clean_env / "data" / "train.json", records, 3)
    frame, source = resolve_data()
    assert len(frame) == 2 and source.path == str(env_file.resolve())
    assert "$ICEBERG_DATA" in source.description


def test_default_file_then_default_archive(clean_env, records):
    (clean_env / "data").mkdir()
    archive = make_7z(
        clean_env / "data" / "train.json.7z", {"train.json": json.dumps(records[:2]).encode()}
    )
    frame, source = resolve_data()
    assert len(frame) == 2 and source.path == str(archive.resolve())
    _write_dataset(clean_env / "data" / "train.json", records, 3)
    frame, source = resolve_data()
    assert len(frame) == 3 and source.path.endswith(os.path.join("data", "train.json"))


def test_named_but_missing_file_is_an_error_not_a_fallback(clean_env, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(clean_env / "gone.json"))
    with pytest.raises(DataError, match="gone.json: file not found"):
        resolve_data()
    with pytest.raises(DataError, match="other.json: file not found"):
        resolve_data("other.json")


def test_stand_in_when_nothing_is_found(clean_env):
    frame, source = resolve_data(stand_in_n=20, stand_in_seed=0)
    expected_bytes = json.dumps(synthetic_train(20, 0), separators=(",", ":")).encode()
    assert source == DataSource(
        kind="stand-in",
        path=None,
        sha256=hashlib.sha256(expected_bytes).hexdigest(),
        n_records=20,
        description=source.description,
    )
    assert (
        "stand-in" in source.description and "synthetic_train(n=20, seed=0)" in source.description
    )
    assert source.sha256[:12] in source.description
    assert source.to_dict() == {
        "kind": "stand-in",
        "path": None,
        "sha256": source.sha256,
        "n_records": 20,
        "description": source.description,
    }
    # Same values as reading the stand-in back from disk.
    (clean_env / "standin.json").write_bytes(expected_bytes)
    pd.testing.assert_frame_equal(frame, load_train_json(clean_env / "standin.json"))


def test_stand_in_is_cached_and_protected(clean_env):
    first, _ = resolve_data(stand_in_n=20, stand_in_seed=0)
    second, _ = resolve_data(stand_in_n=20, stand_in_seed=0)
    assert first["band_1"][0] is second["band_1"][0]
    with pytest.raises(ValueError):
        first["band_1"][0][0] = 0.0
    first["extra"] = 1  # the caller's frame is its own
    assert "extra" not in second.columns


def test_default_stand_in_is_1604_records_seed_0(clean_env, monkeypatch):
    calls = []
    small, sha = source._stand_in(3, 0)

    def fake_stand_in(n, seed):
        calls.append((n, seed))
        return small, sha

    monkeypatch.setattr(source, "_stand_in", fake_stand_in)
    resolve_data()
    assert calls == [(1604, 0)]


# ---------------------------------------------------------------------------
# Summary


def test_summary_of_a_known_frame():
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "band_1": [np.full(5625, -10.0), np.full(5625, -20.0)],
            "band_2": [np.linspace(-30.0, -22.0, 5625), np.full(5625, -25.0)],
            "inc_angle": [35.5, np.nan],
            "is_iceberg": [0, 1],
        }
    )
    text = summarise(frame)
    assert "records      2\n" in text
    assert "1 ships, 1 icebergs (50.0% icebergs)" in text
    assert '35.50 .. 35.50 degrees, mean 35.50, 1 "na"' in text
    assert "band_1 (HH)  mean -15.00 dB, std 5.00, min -20.00, max -10.00" in text
    assert "band_2 (HV)  mean -25.50 dB, std 1.71, min -30.00, max -22.00" in text
    frame["inc_angle"] = np.nan
    assert 'inc_angle    n/a, 2 "na"' in summarise(frame)


def test_reexports():
    import reproduce.data.synthetic

    assert data.synthetic_train is reproduce.data.synthetic.synthetic_train
    with pytest.raises(AttributeError):
        data.no_such_name  # noqa: B018


# ---------------------------------------------------------------------------
# Commands


def test_make_data_then_data(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    out = tmp_path / "made"
    assert cli.main(["make-data", str(out), "--n", "12", "--seed", "4"]) == 0
    written = out / "train.json"
    printed = capsys.readouterr().out
    assert str(written) in printed
    assert f"sha256 {hashlib.sha256(written.read_bytes()).hexdigest()}" in printed
    assert (
        written.read_bytes() == json.dumps(synthetic_train(12, 4), separators=(",", ":")).encode()
    )

    assert cli.main(["data", "--data", str(written)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"data: real: {written.resolve()}")  # seed 4 is not the stand-in
    assert "records      12" in printed and "band_2 (HV)" in printed

    # An existing file (maybe Kaggle's) is kept unless --force.
    assert cli.main(["make-data", str(out), "--n", "3"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert len(load_train_json(written)) == 12
    assert cli.main(["make-data", str(written), "--n", "3", "--force"]) == 0
    assert len(load_train_json(written)) == 3


def test_a_file_holding_the_stand_in_is_labelled_stand_in(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert cli.main(["make-data", str(tmp_path), "--n", "5"]) == 0
    written = (tmp_path / "train.json").resolve()
    capsys.readouterr()
    assert cli.main(["data", "--data", str(written)]) == 0
    assert capsys.readouterr().out.startswith(f"data: stand-in: {written}")
    frame, found = resolve_data(written)
    _, generated = resolve_data(stand_in_n=5)
    assert (found.kind, found.path, found.sha256) == ("stand-in", str(written), generated.sha256)
    records = json.loads(written.read_bytes())
    records[0]["is_iceberg"] = 1 - records[0]["is_iceberg"]  # same ids, other bytes
    assert resolve_data(dump(tmp_path / "edited.json", records))[1].kind == "real"


def test_data_command_bad_file_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "train.json"
    bad.write_text('[{"id": "a", "band_1": [1, 2, 3]}]')
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-m", "reproduce", "data", "--data", str(bad)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "record 0 (id 'a')" in lines[0]


def test_a_file_is_read_once_while_it_does_not_change(tmp_path, records, monkeypatch):
    """``all`` trains three models on one file: it is parsed once, and again only if it changes."""
    from reproduce.data import source

    reads = []
    real_load = source.load_with_sha256
    monkeypatch.setattr(source, "load_with_sha256", lambda p: reads.append(p) or real_load(p))
    source._load_file.cache_clear()
    path = dump(tmp_path / "train.json", records)
    first, _ = resolve_data(str(path))
    second, _ = resolve_data(str(path))
    assert len(reads) == 1 and first.equals(second) and first is not second
    dump(path, records[:-1])  # another size: read again
    third, src = resolve_data(str(path))
    assert len(reads) == 2 and len(third) == len(records) - 1 == src.n_records
    source._load_file.cache_clear()


@pytest.mark.slow  # generates 0.25 GB of JSON
@pytest.mark.parametrize("seed", [0, 1])
def test_the_largest_stand_in_make_data_writes_is_one_a_run_reads(seed):
    from reproduce.data import stand_in_json_bytes

    assert len(stand_in_json_bytes(2500, seed)) <= reading.MAX_BYTES
