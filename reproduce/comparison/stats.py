"""Mean and 95% Student-t interval over training seeds, and the binomial margin of one accuracy
(no SciPy at run time)."""

import math
import statistics


def _t_within(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    c2, even = math.cos(theta) ** 2, df % 2 == 0
    term = total = 1.0 if even else math.cos(theta)
    for j in range(1, (df - 1) // 2 + even):
        term *= ((2 * j - 1) / (2 * j) if even else (2 * j) / (2 * j + 1)) * c2
        total += term
    if even:
        return math.sin(theta) * total
    return 2 / math.pi * (theta + (math.sin(theta) * total if df > 1 else 0.0))


def t_quantile(level: float, df: int) -> float:
    """The t with P(|T| <= t) = ``level`` for ``df`` degrees of freedom, by bisection."""
    low, high = 0.0, 1.0
    while _t_within(high, df) < level:
        low, high = high, high * 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if _t_within(mid, df) < level else (low, mid)
    return (low + high) / 2


def mean_interval(values, level: float = 0.95) -> tuple:
    """(mean, low, high, n) of the values not ``None``: the t-interval (n - 1 df); none under 2."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None, None, 0
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None, len(values)
    half = t_quantile(level, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half, len(values)


def binomial_margin(accuracy, n: int | None, level: float = 0.95) -> float | None:
    """Half-width of the normal-approximation interval of one accuracy on ``n`` test images: what
    the test set's size alone leaves uncertain, apart from the spread over seeds."""
    if accuracy is None or not n:
        return None
    z = statistics.NormalDist().inv_cdf((1 + level) / 2)
    return z * math.sqrt(accuracy * (1 - accuracy) / int(n))
