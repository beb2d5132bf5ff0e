"""Property-based checks of the loader: any input loads or raises DataError, never anything else.

Valid records and files are mutated at random -- fields dropped or given
values of the wrong JSON type, bands shortened or lengthened or given bad
pixels (NaN, Infinity, null, strings, nested lists, huge integers), junk in
place of a record or of the whole list, bytes truncated, flipped or inserted,
7z archives damaged -- and the loader must either return a frame that follows
the contract or raise :class:`reproduce.errors.DataError`.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import py7zr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reproduce.data import load_train_json, writing
from reproduce.data.records import records_to_frame
from reproduce.data.synthetic import synthetic_train
from reproduce.errors import DataError

FIELDS = ["id", "band_1", "band_2", "inc_angle", "is_iceberg"]
BASE = synthetic_train(2, seed=5)


def fresh_records() -> list[dict]:
    """A copy of BASE that may be mutated (faster than copy.deepcopy)."""
    return [
        {key: list(value) if isinstance(value, list) else value for key, value in r.items()}
        for r in BASE
    ]


BASE_BYTES = json.dumps(BASE[:1]).encode()

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.just("na"),
)
# Values that sit on the edges of the schema's checks.
edge_values = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        2,
        -1,
        0.0,
        1.0,
        0.5,
        1e308,
        -1e308,
        45.0,
        10**400,
        -(10**400),
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        "na",
        "NA",
        "1",
        "NaN",
        [],
        {},
        [1.0],
        {"na": 1},
    ]
)
json_values = st.recursive(
    st.one_of(edge_values, json_scalars),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def check_outcome(load) -> None:
    """Run ``load``; a frame must follow the contract, an error must be DataError."""
    try:
        frame = load()
    except DataError as err:
        message = str(err)
        assert message and "\n" not in message
        return
    assert list(frame.columns) == FIELDS
    assert len(frame) >= 1
    assert frame["id"].map(lambda v: isinstance(v, str) and v != "").all()
    assert frame["id"].is_unique
    for band in ("band_1", "band_2"):
        for cell in frame[band]:
            assert cell.shape == (5625,) and cell.dtype == np.float64
            assert (np.abs(cell) <= 1000).all()  # finite and plausible dB values
    assert set(frame["is_iceberg"].unique()) <= {0, 1}
    assert all(math.isnan(a) or math.isfinite(a) for a in frame["inc_angle"])


@st.composite
def mutated_records(draw):
    records = fresh_records()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "drop",
                    "replace_field",
                    "resize_band",
                    "bad_pixel",
                    "replace_record",
                    "duplicate_id",
                    "top_level",
                ]
            )
        )
        if not isinstance(records, list) or not records:
            break
        index = draw(st.integers(0, len(records) - 1))
        record = records[index]
        if not isinstance(record, dict):
            continue
        if kind == "drop" and record:
            del record[draw(st.sampled_from(sorted(record)))]
        elif kind == "replace_field":
            record[draw(st.sampled_from(FIELDS))] = draw(json_values)
        elif kind == "resize_band":
            band = draw(st.sampled_from(["band_1", "band_2"]))
            if isinstance(record.get(band), list):
                size = draw(st.sampled_from([0, 1, 5624, 5626, 11250]))
                record[band] = (record[band] * 3)[:size]
        elif kind == "bad_pixel":
            band = draw(st.sampled_from(["band_1", "band_2"]))
            if isinstance(record.get(band), list) and record[band]:
                position = draw(st.integers(0, len(record[band]) - 1))
                record[band][position] = draw(json_values)
        elif kind == "replace_record":
            records[index] = draw(json_values)
        elif kind == "duplicate_id":
            other = records[draw(st.integers(0, len(records) - 1))]
            if isinstance(other, dict) and "id" in other:
                record["id"] = other["id"]
        elif kind == "top_level":
            records = draw(st.one_of(json_values, st.just([]), st.just({"records": records})))
    return records


@SETTINGS
@given(records=mutated_records())
def test_mutated_records_load_or_raise_data_error(records):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.json"
        path.write_text(json.dumps(records))  # NaN and Infinity written as JSON extensions
        check_outcome(lambda: load_train_json(path))


@SETTINGS
@given(records=mutated_records())
def test_mutated_python_records_check_or_raise_data_error(records):
    # Without the JSON round trip: tuples, numpy values and the like are possible here.
    check_outcome(lambda: records_to_frame(records, "records"))


@settings(max_examples=120, deadline=None)
@given(
    index=st.integers(0, len(BASE) - 1),
    field=st.sampled_from(FIELDS),
    value=st.one_of(edge_values, json_values),
    pixel=st.integers(0, 5624),
    in_band=st.booleans(),
)
@example(index=0, field="is_iceberg", value={"\n": None}, pixel=0, in_band=False)
@example(index=0, field="inc_angle", value=10**400, pixel=0, in_band=False)
@example(index=1, field="is_iceberg", value=10**400, pixel=0, in_band=False)
@example(index=1, field="band_1", value=-(10**400), pixel=7, in_band=True)
@example(index=0, field="band_2", value=float("nan"), pixel=5624, in_band=True)
def test_one_field_or_pixel_set_to_anything(index, field, value, pixel, in_band):
    records = [dict(record) for record in BASE]
    if in_band and field in ("band_1", "band_2"):
        records[index][field] = list(records[index][field])
        records[index][field][pixel] = value
    else:
        records[index][field] = value
    check_outcome(lambda: records_to_frame(records, "records"))
    check_outcome(lambda: records_to_frame(json.loads(json.dumps(records)), "records"))


@st.composite
def mutated_bytes(draw):
    content = bytearray(BASE_BYTES)
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "random", "prefix_7z"]))
    if kind == "truncate":
        del content[draw(st.integers(0, len(content))) :]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 5))):
            content[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
    elif kind == "insert":
        position = draw(st.integers(0, len(content)))
        content[position:position] = draw(st.binary(min_size=1, max_size=20))
    elif kind == "delete":
        start = draw(st.integers(0, len(content) - 1))
        del content[start : start + draw(st.integers(1, 200))]
    elif kind == "random":
        content = bytearray(draw(st.binary(max_size=200)))
    elif kind == "prefix_7z":
        content = bytearray(b"7z\xbc\xaf\x27\x1c" + draw(st.binary(max_size=100)))
    return bytes(content)


@SETTINGS
@given(content=mutated_bytes(), name=st.sampled_from(["train.json", "train.json.7z", "data"]))
def test_mutated_bytes_load_or_raise_data_error(content, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        check_outcome(lambda: load_train_json(path))


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(content, name)
    return buffer.getvalue()


ARCHIVE = _archive({"data/processed/train.json": BASE_BYTES})


@settings(max_examples=40, deadline=None)
@given(
    position=st.integers(0, len(ARCHIVE) - 1),
    replacement=st.integers(0, 255),
    cut=st.booleans(),
)
def test_damaged_7z_loads_or_raises_data_error(position, replacement, cut):
    content = bytearray(ARCHIVE)
    if cut:
        del content[position:]
    else:
        content[position] = replacement
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.json.7z"
        path.write_bytes(bytes(content))
        check_outcome(lambda: load_train_json(path))


@settings(max_examples=12, deadline=None)
@given(
    members=st.dictionaries(
        st.sampled_from(["train.json", "a/test.json", "readme.txt", "x.JSON", "data/train.json"]),
        st.sampled_from([BASE_BYTES, b"[]", b"{}", b"not json", b""]),
        max_size=3,
    )
)
def test_archives_with_any_members_load_or_raise_data_error(members):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.json.7z"
        path.write_bytes(_archive(members))
        check_outcome(lambda: load_train_json(path))


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
kaggle_like = st.integers(-460_000, 350_000).map(lambda k: k / 1e4)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(finite_floats, kaggle_like, st.just(-0.0), st.just(0.0)), min_size=1, max_size=40
    )
)
def test_number_formatting_is_json_dumps(values):
    rows = np.array([values, values[::-1]])
    for row, text in zip(rows, writing._format_rows(rows)):
        assert text == json.dumps(row.tolist(), separators=(",", ":")).encode()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), na=st.booleans())
def test_valid_records_round_trip(seed, n, na):
    rng = np.random.default_rng(seed)
    records = [
        {
            "id": f"{i:08x}",
            "band_1": rng.normal(-20, 10, 5625).tolist(),  # full float precision
            "band_2": np.round(rng.normal(-26, 5, 5625), 4).tolist(),
            "inc_angle": "na" if na and i == 0 else float(rng.uniform(30, 46)),
            "is_iceberg": int(rng.integers(0, 2)),
        }
        for i in range(n)
    ]
    text = writing.json_bytes(records_to_frame(records, "round trip"))
    assert text == json.dumps(records, separators=(",", ":")).encode()
    frame = records_to_frame(json.loads(text), "round trip")
    assert [band.tolist() for band in frame["band_1"]] == [r["band_1"] for r in records]
