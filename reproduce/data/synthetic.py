"""A generated stand-in for Kaggle's iceberg ``train.json``, which cannot be redistributed. Records
in Kaggle's schema imitating Sentinel-1 SAR chips (75 x 75 pixels, dB): sea clutter darkening with
incidence angle, few-look speckle, one target per image (elongated, bright ships with point
scatterers, or compact, dimmer icebergs) overlapping on purpose so that the task is learnable but
not trivial. Angles are "na" at Kaggle's rate, independent of the class (a leak would only mislead);
values rounded as Kaggle's (1e-4). The output depends only on ``(n, seed)``."""

import numpy as np

from reproduce.data.records import COLUMNS, N_PIXELS

SIDE = 75  # pixels; a band holds SIDE * SIDE values, row by row
# Kaggle's train.json: 753 icebergs and 133 "na" angles in 1604 records.
ICEBERG_SHARE, NA_SHARE = 753 / 1604, 133 / 1604
_DECIMALS = 4
_POSITION_JITTER = 10.0  # targets lie this close to the centre, in x and in y
_DB_FLOOR, _HH_CEILING, _HV_CEILING = -45.5, 35.0, 20.0  # of the real bands, in dB


def synthetic_train(n: int = 1604, seed: int = 0) -> list[dict]:
    """``n`` records as ``json.load`` returns Kaggle's ``train.json`` (ids of 8 hex digits, bands
    of 5625 dB floats, angles in degrees or ``"na"``); ``seed`` seeds NumPy's ``default_rng``."""
    arrays = synthetic_arrays(n, seed)
    return [{"id": i, "band_1": hh.tolist(), "band_2": hv.tolist(),
             "inc_angle": "na" if np.isnan(angle) else float(angle), "is_iceberg": int(label)}
            for i, hh, hv, angle, label in zip(*(arrays[name] for name in COLUMNS))]  # fmt: skip


def synthetic_arrays(n: int = 1604, seed: int = 0) -> dict:
    """:func:`synthetic_train` as columns: ``id`` (list of str), ``band_1``, ``band_2`` (float64
    [n, 5625]), ``inc_angle`` (float64 [n], NaN for "na"), ``is_iceberg`` (int64 [n])."""
    rng = np.random.default_rng(seed)
    is_iceberg, ids = _labels_and_ids(rng, n)
    # The true angle, peaked near 38 degrees, shapes the clutter even where it is hidden as "na".
    true_angle = 30.0 + 16.0 * rng.beta(2.0, 2.0, size=n)
    inc_angle = np.where(rng.random(n) < NA_SHARE, np.nan, np.round(true_angle, _DECIMALS))
    # Sea clutter darkens with angle around -20 dB (HH) and -26 dB (HV), shifted by the wind.
    wind_db = rng.normal(0.0, 1.5, size=n)
    hh_clutter_db = -19.7 - 0.40 * (true_angle - 38.0) + wind_db
    hv_clutter_db = -25.6 - 0.15 * (true_angle - 38.0) + 0.5 * wind_db + rng.normal(0.0, 0.7, n)
    # Swell: a smooth texture, coarse noise upsampled bilinearly.
    grid, position = rng.normal(0.0, 0.8, size=(n, 8, 8)), np.linspace(0.0, 7.0, SIDE)
    lower, weights = np.clip(np.floor(position).astype(int), 0, 6), np.zeros((SIDE, 8))
    weights[np.arange(SIDE), lower] = 1.0 - (position - lower)
    weights[np.arange(SIDE), lower + 1] = position - lower
    texture_db = np.einsum("ia,nab,jb->nij", weights, grid, weights, optimize=True)
    shape, hh_contrast, xpol, points_hh, points_hv = _targets(rng, is_iceberg.astype(bool))
    # Mean intensity (linear); the target's returns are relative to the image's HH clutter.
    hh_clutter = _db_to_linear(hh_clutter_db)[:, None, None]
    hv_clutter = _db_to_linear(hv_clutter_db)[:, None, None]
    target_hh = hh_contrast[:, None, None] * shape
    hh_mean = hh_clutter * (_db_to_linear(texture_db) + target_hh)
    hv_mean = (
        hv_clutter * _db_to_linear(0.7 * texture_db) + hh_clutter * target_hh * xpol[:, None, None]
    )
    # Speckle: gamma-distributed intensity with unit mean and 3 to 5 looks, the skewed dB
    # histogram of real chips. Point scatterers are strong and deterministic: added after it.
    looks = rng.integers(3, 6, size=n).astype(np.float64)[:, None, None]
    speckled = (m * rng.gamma(looks, 1.0 / looks, size=(n, SIDE, SIDE)) for m in (hh_mean, hv_mean))
    hh, hv = (s + hh_clutter * p for s, p in zip(speckled, (points_hh, points_hv)))
    return {"id": ids, "band_1": _stored_db(hh, _HH_CEILING).reshape(n, N_PIXELS),
            "band_2": _stored_db(hv, _HV_CEILING).reshape(n, N_PIXELS),
            "inc_angle": inc_angle, "is_iceberg": is_iceberg}  # fmt: skip


def synthetic_ids(n: int, seed: int = 0) -> list[str]:
    """The ids of ``synthetic_arrays(n, seed)``, without generating the images."""
    return _labels_and_ids(np.random.default_rng(seed), n)[1]


def _labels_and_ids(rng: np.random.Generator, n) -> tuple[np.ndarray, list[str]]:
    """The first draws of the stand-in: shuffled labels (Kaggle's iceberg share), then the ids."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    is_iceberg = np.zeros(int(n), dtype=np.int64)
    is_iceberg[: int(round(ICEBERG_SHARE * n))] = 1
    return rng.permutation(is_iceberg), _unique_hex_ids(rng, int(n))


def _stored_db(intensity: np.ndarray, ceiling: float) -> np.ndarray:
    """Intensity to dB as stored: clipped, rounded, no negative zero."""
    db = np.clip(10.0 * np.log10(intensity), _DB_FLOOR, ceiling)
    return np.round(db, _DECIMALS) + 0.0  # -0.0 would be written "-0.0"


def _unique_hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 8-hex-digit ids; redraws the (rare) collisions."""
    values = rng.integers(0, 16**8, size=n)
    seen: set[int] = set()
    for i in range(n):
        while int(values[i]) in seen:
            values[i] = rng.integers(0, 16**8)
        seen.add(int(values[i]))
    return [f"{int(v):08x}" for v in values]


def _targets(rng: np.random.Generator, iceberg: np.ndarray) -> tuple:
    """One target per image, relative to its HH clutter: shape [n, 75, 75] in 0..1, linear HH
    contrast and HV/HH ratio [n], point scatterers' HH and HV intensity [n, 75, 75]."""
    n, ship = iceberg.shape[0], ~iceberg
    cx, cy = SIDE // 2 + rng.uniform(-_POSITION_JITTER, _POSITION_JITTER, size=(2, n))
    theta = rng.uniform(0.0, np.pi, size=n)
    # Sizes in pixels: ships long and thin (small ones compact), icebergs round, a quarter elongated.
    ship_length = np.clip(rng.lognormal(np.log(7.0), 0.50, size=n), 3.0, 20.0)
    ship_width = np.clip(rng.lognormal(np.log(2.5), 0.35, size=n), 1.2, 6.0)
    berg_size = np.clip(rng.lognormal(np.log(7.0), 0.45, size=n), 2.5, 20.0)
    berg_aspect = np.where(
        rng.random(n) < 0.25, rng.uniform(1.6, 3.0, size=n), rng.uniform(1.0, 1.5, size=n)
    )
    half_length = np.where(ship, ship_length, berg_size * np.sqrt(berg_aspect)) / 2.0
    half_width = np.where(ship, ship_width, berg_size / np.sqrt(berg_aspect)) / 2.0
    dx = np.arange(SIDE)[None, None, :] - cx[:, None, None]
    dy = np.arange(SIDE)[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    along2 = ((dx * cos + dy * sin) / half_length[:, None, None]) ** 2
    across2 = ((-dx * sin + dy * cos) / half_width[:, None, None]) ** 2
    # Ships have flat hulls along their length (super-Gaussian), icebergs are smooth blobs.
    shape = np.exp(-0.5 * (np.where(ship[:, None, None], along2 * along2, along2) + across2))
    # Peak contrast over clutter (dB) and cross-polarisation ratio HV/HH (dB).
    hh_contrast_db = np.where(ship, rng.normal(13.0, 5.0, size=n), rng.normal(11.0, 4.0, size=n))
    xpol_db = np.where(ship, rng.normal(-7.0, 4.0, size=n), rng.normal(-9.0, 2.0, size=n))
    # Point scatterers: 55% of ships carry 1 to 4 along the hull; a quarter of icebergs one facet.
    n_points = np.where(
        ship,
        np.where(rng.random(n) < 0.55, rng.integers(1, 5, size=n), 0),
        (rng.random(n) < 0.25).astype(int),
    )
    points_hh, points_hv = np.zeros((2, n, SIDE, SIDE))
    pixels = np.arange(SIDE)[None, :]
    for j in range(4):
        along = rng.uniform(-0.8, 0.8, size=n) * half_length
        px, py = cx + along * np.cos(theta), cy + along * np.sin(theta)
        strength_db = hh_contrast_db + rng.uniform(3.0, 10.0, size=n)
        strength = np.where(n_points > j, _db_to_linear(strength_db), 0.0)
        point_xpol = _db_to_linear(xpol_db + rng.normal(0.0, 2.0, size=n))
        # A Gaussian spot is separable: outer product of its row and column profiles.
        rows, columns = (np.exp(-0.5 * ((pixels - p[:, None]) / 0.7) ** 2) for p in (py, px))
        spot = np.einsum("ni,nj->nij", rows, columns)
        points_hh += strength[:, None, None] * spot
        points_hv += (strength * point_xpol)[:, None, None] * spot

    return shape, _db_to_linear(hh_contrast_db), _db_to_linear(xpol_db), points_hh, points_hv


def _db_to_linear(db):
    # exp is several times faster than 10.0 ** x on large arrays.
    return np.exp(np.asarray(db) * (np.log(10.0) / 10.0))
