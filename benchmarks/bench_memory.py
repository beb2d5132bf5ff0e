"""Peak memory of a training step, dopri5 with the adjoint at rtol = atol 1e-2 ... 1e-6 (goal:
peak at 1e-6 <= 1.1 x at 1e-2), against parallel_iterations=10, the full adjoint norm and
backprop; each in a fresh process, traced first: TensorFlow's allocator peak, and ru_maxrss.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys

import _common as C
import bench_odeint as O


def configurations(args) -> list[dict]:
    tols = (1e-2, 1e-3) if args.tiny else (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    adjoint = {"method": "dopri5", "adjoint": "seminorm"}
    rows = [adjoint | {"tol": tol} for tol in tols]
    rows += [{"method": "rk4", "steps": n} for n in ((1, 2) if args.tiny else (1, 2, 4, 8))]
    rows += [adjoint | {"tol": tol, "parallel_iterations": 10} for tol in tols]
    # The full norm's backward NFE explodes below 1e-4; backprop through dopri5 keeps GBs.
    rows += [adjoint | {"tol": tol, "adjoint": "full"} for tol in tols if tol >= 1e-4]
    rows += [{"method": "dopri5", "tol": tol} for tol in tols if tol >= 1e-4]
    return [row | {"batch": args.batch} for row in rows[: 3 if args.tiny else None]]


def child(config: dict) -> dict:
    """One configuration, measured in this fresh process."""
    p, get, out = O.Problem(batch=config["batch"]), config.get, []
    options = dict(tol=get("tol"), steps=get("steps"), adjoint=get("adjoint"))
    train = O.tf_train(p, config["method"], **options, max_num_steps=100_000)
    try:
        loops = get("parallel_iterations")
        with C.tuning(PARALLEL_ITERATIONS=loops) if loops else contextlib.nullcontext():
            train.trace()
    except C.Skip as why:
        return config | {"skipped": str(why)}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = C.peak_mib(lambda: out.extend(train()[1:]))  # NFE forward, backward
    rss_delta = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024  # KiB on Linux
    return config | {"nfe": out, "tf_peak_mib": peak, "rss_delta_mib": rss_delta}


def measure(args) -> dict:
    rows = []
    for config in configurations(args):
        command = [sys.executable, __file__, "--threads", str(args.threads), "--child"]
        done = subprocess.run([*command, json.dumps(config)], capture_output=True, text=True)
        if done.returncode:
            rows.append(config | {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:300]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    shipped = [r for r in rows if r.get("adjoint") == "seminorm" and "parallel_iterations" not in r]
    shipped = {r["tol"]: r["tf_peak_mib"] for r in shipped if "tf_peak_mib" in r}
    headline = shipped[min(shipped)] / shipped[max(shipped)]
    print(f"adjoint peak at tol {min(shipped):g} / {max(shipped):g}: {headline:.3f} (goal <= 1.1)")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "memory.png")
    return {"rows": rows, "tight_over_loose": headline}


def plot(rows: list[dict], path) -> None:
    import matplotlib.pyplot as plt  # Agg where there is no display

    series = {}
    for r in (r for r in rows if "tf_peak_mib" in r):
        kind = f"adjoint, {r['adjoint']} norm" if "adjoint" in r else "backprop"
        label = f"{r['method']} {kind}" + (
            ", parallel_iterations=10" * ("parallel_iterations" in r)
        )
        series.setdefault(label, []).append((r["nfe"][0], r["tf_peak_mib"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, points in series.items():
        ax.plot(*zip(*sorted(points)), "o-", label=label)
    title = f"ODE-Net block, 18x18x64, batch {rows[0]['batch']}: adjoint vs backprop"
    ax.set(xlabel="forward NFE", ylabel="peak memory of a training step (MiB)", title=title)
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = C.parser(__doc__, repeats=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--child", help="a configuration to measure in this process (JSON)")
    args = parser.parse_args(argv)
    if args.child:
        C.pin_threads(args.threads[0])
        print(json.dumps(child(json.loads(args.child))))
    else:
        C.run(args, "memory", measure)


if __name__ == "__main__":
    main()
