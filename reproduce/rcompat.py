"""R's random numbers and array layout, reproduced bit for bit in NumPy.

The report's scripts were run in R. Reproducing them faithfully needs three
pieces of R behaviour that Python does not share:

* ``set.seed(seed); sample(1:n, size)``: R's Mersenne-Twister, seeded through
  R's own scrambling, and the sampling algorithm of R's ``do_sample`` in its two
  documented variants, ``sample.kind = "Rounding"`` (R < 3.6, the report's era)
  and ``"Rejection"`` (the default since R 3.6.0).
* ``array(values, dim)``: column-major fill, silent truncation and recycling.
* ``aperm(a, perm)`` with R's 1-based permutation.

Everything here follows R's C sources (src/main/RNG.c, src/main/random.c,
src/main/array.c) and is checked against output of real R in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["RRandom", "r_sample", "r_runif", "r_array", "r_aperm", "SAMPLE_KINDS"]

SAMPLE_KINDS = ("Rounding", "Rejection")

# Mersenne-Twister constants (Matsumoto and Nishimura, as in R's RNG.c).
_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER_MASK = 0x80000000
_LOWER_MASK = 0x7FFFFFFF
_TEMPERING_MASK_B = 0x9D2C5680
_TEMPERING_MASK_C = 0xEFC60000
_MASK32 = 0xFFFFFFFF
# R's unif_rand() keeps results strictly inside (0, 1) with this value.
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)
# sample.int() switches to a hash-based algorithm above this size.
_MAX_SAMPLE_N = 10_000_000


class RRandom:
    """R's default generator, Mersenne-Twister, after ``set.seed(seed)``.

    ``set.seed`` scrambles the seed with 50 steps of the LCG
    ``seed = 69069 * seed + 1`` (32-bit unsigned arithmetic), then fills R's
    625-word state (the position ``mti`` followed by the 624 words of ``mt``)
    with further LCG steps, and sets ``mti = 624`` so that the first draw
    regenerates the whole block.

    Args:
        seed: the integer given to ``set.seed``; any value R accepts as an
            integer (``-2**31 < seed < 2**31``).
    """

    def __init__(self, seed: int) -> None:
        seed = _check_seed(seed)
        state = seed & _MASK32
        for _ in range(50):
            state = (69069 * state + 1) & _MASK32
        words = []
        for _ in range(_N + 1):
            state = (69069 * state + 1) & _MASK32
            words.append(state)
        # words[0] is R's dummy[0] (mti), overwritten by FixupSeeds(initial=1).
        self._mt = words[1:]
        self._mti = _N

    def _twist(self) -> None:
        mt = self._mt
        mag01 = (0, _MATRIX_A)
        for kk in range(_N - _M):
            y = (mt[kk] & _UPPER_MASK) | (mt[kk + 1] & _LOWER_MASK)
            mt[kk] = mt[kk + _M] ^ (y >> 1) ^ mag01[y & 1]
        for kk in range(_N - _M, _N - 1):
            y = (mt[kk] & _UPPER_MASK) | (mt[kk + 1] & _LOWER_MASK)
            mt[kk] = mt[kk + (_M - _N)] ^ (y >> 1) ^ mag01[y & 1]
        y = (mt[_N - 1] & _UPPER_MASK) | (mt[0] & _LOWER_MASK)
        mt[_N - 1] = mt[_M - 1] ^ (y >> 1) ^ mag01[y & 1]
        self._mti = 0

    def _genrand(self) -> float:
        """MT_genrand(): a tempered 32-bit word times 2^-32, in [0, 1)."""
        if self._mti >= _N:
            self._twist()
        y = self._mt[self._mti]
        self._mti += 1
        y ^= y >> 11
        y ^= (y << 7) & _TEMPERING_MASK_B
        y ^= (y << 15) & _TEMPERING_MASK_C
        y ^= y >> 18
        return y * 2.3283064365386963e-10  # exactly 2^-32

    def unif_rand(self) -> float:
        """One draw of R's ``unif_rand()``, strictly inside (0, 1)."""
        value = self._genrand()
        # R's fixup(): a 32-bit generator can return 0, which R never returns.
        if value <= 0.0:
            return 0.5 * _I2_32M1
        if 1.0 - value <= 0.0:
            return 1.0 - 0.5 * _I2_32M1
        return value

    def _rbits(self, bits: int) -> int:
        """R's rbits(): ``bits`` random bits, built 16 at a time."""
        v = 0
        n = 0
        while n <= bits:  # note "<=": 16 bits take two draws, as in R
            v = 65536 * v + int(math.floor(self.unif_rand() * 65536))
            n += 16
        return v & ((1 << bits) - 1)

    def unif_index(self, dn: int, kind: str = "Rounding") -> int:
        """R's ``R_unif_index(dn)``: a random integer in ``0 .. dn - 1``.

        ``"Rounding"`` is ``floor(dn * unif_rand())`` (slightly non-uniform for
        large ``dn``); ``"Rejection"`` draws ``ceil(log2(dn))`` random bits and
        rejects values ``>= dn``.
        """
        if kind == "Rounding":
            return int(math.floor(dn * self.unif_rand()))
        if dn <= 0:
            return 0
        bits = int(math.ceil(math.log2(dn)))
        while True:
            dv = self._rbits(bits)
            if dv < dn:
                return dv


def _check_seed(seed: int) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    # R's integers are 32-bit; -2^31 is NA_integer_, which set.seed rejects.
    if not -(2**31) < seed < 2**31:
        raise ValueError(f"seed must lie in R's integer range (-2^31, 2^31), got {seed}")
    return seed


def _check_kind(kind: str) -> str:
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"kind must be one of {SAMPLE_KINDS}, got {kind!r}")
    return kind


def r_runif(n: int, seed: int) -> np.ndarray:
    """``set.seed(seed); runif(n)`` as R computes it.

    Args:
        n: number of draws (>= 0).
        seed: the integer given to ``set.seed``.

    Returns:
        float64 array of length ``n``, values in (0, 1).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = RRandom(seed)
    return np.array([rng.unif_rand() for _ in range(int(n))], dtype=np.float64)


def r_sample(n: int, size: int, seed: int, kind: str = "Rounding") -> np.ndarray:
    """``set.seed(seed, sample.kind = kind); sample(1:n, size)`` as R computes it.

    Sampling without replacement follows R's ``do_sample``: a partial
    Fisher-Yates shuffle in which draw ``i`` picks position
    ``j = R_unif_index(n - i)`` of the remaining pool, records ``x[j] + 1`` and
    moves the pool's last element into ``x[j]``.

    Args:
        n: population size; ``1:n`` is sampled (``1 <= n <= 1e7``: above that R
            switches to a different, hash-based algorithm, not reproduced here).
        size: number of draws, ``0 <= size <= n``.
        seed: the integer given to ``set.seed``.
        kind: ``"Rounding"`` (R before 3.6.0, the report's R) or
            ``"Rejection"`` (R 3.6.0 and later, their default).

    Returns:
        int64 array of ``size`` 1-based indices, in R's order.

    Raises:
        ValueError: on a size larger than the population (R: "cannot take a
            sample larger than the population when 'replace = FALSE'"), a bad
            ``kind``, or ``n`` outside the supported range.
    """
    kind = _check_kind(kind)
    n = int(n)
    size = int(size)
    if not 1 <= n <= _MAX_SAMPLE_N:
        raise ValueError(f"n must lie in 1 .. {_MAX_SAMPLE_N}, got {n}")
    if not 0 <= size <= n:
        raise ValueError(
            f"cannot take a sample of size {size} from 1:{n} without replacement "
            f"(size must lie in 0 .. {n})"
        )
    rng = RRandom(seed)
    pool = list(range(n))
    remaining = n
    drawn = np.empty(size, dtype=np.int64)
    for i in range(size):
        j = rng.unif_index(remaining, kind)
        drawn[i] = pool[j] + 1
        remaining -= 1
        pool[j] = pool[remaining]
    return drawn


def r_array(values, dim: Sequence[int]) -> np.ndarray:
    """R's ``array(values, dim)``.

    The result is filled in column-major order (first index fastest). When
    ``values`` is longer than ``prod(dim)`` the surplus is dropped silently;
    when it is shorter it is recycled (R's ``rep_len``), also silently, even
    when the length does not divide ``prod(dim)``. As in R, an empty ``values``
    gives an array of missing values: NaN in a float64 array.

    Args:
        values: anything ``numpy.asarray`` accepts; it is flattened in its own
            C order first (R vectors have no shape).
        dim: the dimensions, at least one, each ``>= 0``.

    Returns:
        An array of shape ``tuple(dim)`` with the dtype of ``values`` (float64
        for empty input). Where no truncation or recycling happens it may be a
        view on ``values``.
    """
    dim = tuple(int(d) for d in dim)
    if not dim:
        raise ValueError("'dims' cannot be of length 0")
    if any(d < 0 for d in dim):
        raise ValueError(f"negative dimension in {dim}")
    flat = np.asarray(values).reshape(-1)
    total = math.prod(dim)
    if flat.size == 0:
        flat = np.full(total, np.nan)
    elif flat.size > total:
        flat = flat[:total]
    elif flat.size < total:
        flat = np.resize(flat, total)  # repeats the values cyclically
    return flat.reshape(dim, order="F")


def r_aperm(a: np.ndarray, perm: Sequence[int]) -> np.ndarray:
    """R's ``aperm(a, perm)``: axis ``k`` of the result is axis ``perm[k]`` of ``a``.

    Args:
        a: the array.
        perm: a permutation of ``1 .. a.ndim`` (1-based, as in R).

    Returns:
        A view of ``a`` with its axes permuted.
    """
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(1, np.ndim(a) + 1)):
        raise ValueError(f"perm must be a permutation of 1..{np.ndim(a)}, got {perm}")
    return np.transpose(a, [p - 1 for p in perm])
