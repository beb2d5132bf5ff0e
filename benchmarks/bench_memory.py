"""Peak memory of a training step, dopri5 with the adjoint at rtol = atol 1e-2 ... 1e-6 (goal: 1e-6
<= 1.1 x 1e-2), against parallel_iterations=10, the full adjoint norm and backprop."""

import contextlib
import json
import resource
import subprocess
import sys

import _common as C
import bench_odeint as O

from reproduce.figures.canvas import pyplot, save_figure

BATCH = 4  # every state-sized buffer scales with the batch: the ratios are batch 32's


def child(config: dict) -> dict:
    """One configuration, measured in this fresh process."""
    p, nfe, loops = O.Problem(batch=BATCH), [], config.get("parallel_iterations")
    options = {k: config.get(k) for k in ("tol", "steps", "adjoint")} | {"max_num_steps": 100_000}
    train = O.tf_train(p, config["method"], **options)
    with C.tuning(PARALLEL_ITERATIONS=loops) if loops else contextlib.nullcontext():
        train.trace()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = C.peak_mib(lambda: nfe.extend(train()[1:]))  # forward, backward
    rss_delta = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024  # KiB on Linux
    return config | {"nfe": nfe, "tf_peak_mib": peak, "rss_delta_mib": rss_delta}


def measure(args) -> dict:
    tols = (1e-2, 1e-3) if args.tiny else (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    adjoint = {"method": "dopri5", "adjoint": "seminorm"}
    configs = [adjoint | {"tol": tol} for tol in tols]
    configs += [{"method": "rk4", "steps": n} for n in ((1, 2) if args.tiny else (1, 2, 4, 8))]
    configs += [adjoint | {"tol": tol, "parallel_iterations": 10} for tol in tols]
    # The full norm's backward NFE explodes below 1e-4; backprop through dopri5 keeps GBs.
    configs += [adjoint | {"tol": tol, "adjoint": "full"} for tol in tols if tol >= 1e-4]
    configs += [{"method": "dopri5", "tol": tol} for tol in tols if tol >= 1e-4]
    rows = []
    for config in configs[: 3 if args.tiny else None]:
        command = [__file__, "--threads", str(args.threads), "--child", json.dumps(config)]
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True)
        last = (done.stderr if done.returncode else done.stdout).strip().splitlines() or ["?"]
        rows.append(config | {"error": last[-1][:300]} if done.returncode else json.loads(last[-1]))
        print(rows[-1], flush=True)
    shipped = [r for r in rows if r.get("adjoint") == "seminorm" and "parallel_iterations" not in r]
    shipped = {r["tol"]: r["tf_peak_mib"] for r in shipped if "tf_peak_mib" in r}
    headline = shipped[min(shipped)] / shipped[max(shipped)]
    print(f"adjoint peak at tol {min(shipped):g} / {max(shipped):g}: {headline:.3f} (goal <= 1.1)")
    plot(rows, args.out / "memory.png")
    return {"batch": BATCH, "rows": rows, "tight_over_loose": headline}


def plot(rows: list[dict], path) -> None:
    series, (fig, ax) = {}, pyplot().subplots(figsize=(6.4, 4.2))
    for r in (r for r in rows if "tf_peak_mib" in r):
        label = r["method"] + (f" adjoint, {r['adjoint']} norm" if "adjoint" in r else " backprop")
        label += ", parallel_iterations=10" * ("parallel_iterations" in r)
        series.setdefault(label, []).append((r["nfe"][0], r["tf_peak_mib"]))
    for label, points in series.items():
        ax.plot(*zip(*sorted(points)), "o-", label=label)
    title = f"ODE-Net block, 18x18x64, batch {BATCH}: adjoint vs backprop"
    ax.set(xlabel="forward NFE", ylabel="peak memory of a training step (MiB)", title=title)
    ax.set(ylim=(0, None))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    save_figure(fig, path, top=1.0)


if __name__ == "__main__":
    child_help = dict(help="a configuration to measure in this process (JSON)")
    args = C.arguments(__doc__, repeats=1, options={"--child": child_help})
    if args.child:
        C.pin_threads(args.threads[0])
        print(json.dumps(child(json.loads(args.child))))
    else:
        C.run(args, "memory", measure)
