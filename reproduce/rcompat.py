"""R's ``set.seed`` + ``sample``, ``array()`` and ``aperm``, bit for bit in NumPy, after R's C
sources (src/main/RNG.c, random.c, array.c); the tests check against real R output."""

import math
from collections.abc import Sequence

import numpy as np

from reproduce import settings

# Mersenne-Twister's constants, as in R's RNG.c.
_N, _M, _MATRIX_A, _UPPER, _LOWER = 624, 397, 0x9908B0DF, 0x80000000, 0x7FFFFFFF
_MASK32 = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1): how R's fixup() keeps draws inside (0, 1)
_MAX_SAMPLE_N = 10_000_000  # above it R's sample() switches to a hash-based algorithm


class RRandom:
    """R's default generator, Mersenne-Twister, after ``set.seed(seed)`` (``-2**31 < seed < 2**31``):
    50 steps of the LCG ``69069 * seed + 1`` (32-bit) scramble the seed, further steps fill R's
    625 words (``mti``, then the 624 of ``mt``), and ``mti = 624``."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        if not -(2**31) < int(seed) < 2**31:  # -2^31 is R's NA_integer_
            raise ValueError(f"seed must lie in R's integer range (-2^31, 2^31), got {seed}")
        state, words = int(seed) & _MASK32, []
        for _ in range(50 + _N + 1):
            state = (69069 * state + 1) & _MASK32
            words.append(state)
        self._mt = words[51:]  # words[50] is R's mti, which FixupSeeds overwrites
        self._mti = _N

    def _twist(self) -> None:
        mt = self._mt
        for kk in range(_N):
            y = (mt[kk] & _UPPER) | (mt[(kk + 1) % _N] & _LOWER)
            mt[kk] = mt[(kk + _M) % _N] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
        self._mti = 0

    def unif_rand(self) -> float:
        """R's ``unif_rand()``, strictly inside (0, 1)."""
        if self._mti >= _N:
            self._twist()
        y = self._mt[self._mti]
        self._mti += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        value = y * 2.3283064365386963e-10  # exactly 2^-32
        return value if value > 0.0 else 0.5 * _I2_32M1  # 0 is the one value out of (0, 1)

    def unif_index(self, dn: int, kind: str = "Rounding") -> int:
        """R's ``R_unif_index(dn)`` in ``0 .. dn - 1``: ``floor(dn * unif_rand())`` ("Rounding"), or
        ``ceil(log2(dn))`` random bits, rejecting values ``>= dn`` ("Rejection")."""
        if kind == "Rounding":
            return int(math.floor(dn * self.unif_rand()))
        if dn <= 0:
            return 0
        bits = int(math.ceil(math.log2(dn)))
        while True:
            value = 0
            for _ in range(bits // 16 + 1):  # R's rbits(): 16 bits a draw, one more than needed
                value = 65536 * value + int(math.floor(self.unif_rand() * 65536))
            if (value := value & ((1 << bits) - 1)) < dn:
                return value


def r_sample(n: int, size: int, seed: int, kind: str = "Rounding") -> np.ndarray:
    """``set.seed(seed, sample.kind = kind); sample(1:n, size)``: 1-based int64, in R's order.
    ``kind``: ``"Rounding"`` (R before 3.6.0, the report's) or ``"Rejection"`` (R >= 3.6.0)."""
    if kind not in settings.SAMPLE_KINDS:
        raise ValueError(f"kind must be one of {settings.SAMPLE_KINDS}, got {kind!r}")
    n, size = int(n), int(size)
    if not 1 <= n <= _MAX_SAMPLE_N:
        raise ValueError(f"n must lie in 1 .. {_MAX_SAMPLE_N}, got {n}")
    if not 0 <= size <= n:
        raise ValueError(f"cannot take a sample of size {size} from 1:{n} without replacement "
                         f"(size must lie in 0 .. {n})")  # fmt: skip
    rng = RRandom(seed)  # R's do_sample: a partial Fisher-Yates shuffle
    pool, drawn = list(range(n)), np.empty(size, dtype=np.int64)
    for i in range(size):
        j = rng.unif_index(n - i, kind)
        drawn[i] = pool[j] + 1
        pool[j] = pool[n - i - 1]
    return drawn


def r_array(values, dim: Sequence[int]) -> np.ndarray:
    """R's ``array(values, dim)``: ``values`` flattened in C order (R vectors have no shape; the
    dtype is kept) fill ``dim`` column-major, the surplus dropped and a shortfall recycled
    silently, an empty ``values`` giving NaN (R's NA)."""
    dim = tuple(int(d) for d in dim)
    if not dim:
        raise ValueError("'dims' cannot be of length 0")
    if any(d < 0 for d in dim):
        raise ValueError(f"negative dimension in {dim}")
    flat, total = np.asarray(values).reshape(-1), math.prod(dim)
    flat = np.resize(flat, total) if flat.size else np.full(total, np.nan)  # as R's rep_len
    return flat.reshape(dim, order="F")


def r_aperm(a: np.ndarray, perm: Sequence[int]) -> np.ndarray:
    """R's ``aperm(a, perm)``: axis ``k`` of the view is axis ``perm[k]`` (1-based) of ``a``."""
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(1, np.ndim(a) + 1)):
        raise ValueError(f"perm must be a permutation of 1..{np.ndim(a)}, got {perm}")
    return np.transpose(a, [p - 1 for p in perm])
