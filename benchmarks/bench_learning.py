"""Benchmark: how fast does each network learn? Probe accuracy against CPU minutes of training.

For each dataset (the synthetic CPI-like default, synthetic OAP images) and each method
(iBOT-vMF, plain iBOT, MoCo v2, BYOL, and a supervised network of the same backbone as the
ceiling) it trains ONE run with the profile's recipe (notebook 03's, through the package's
training loop) planned for the largest budget, and pauses it when its training wall time
crosses each mark of ``--minutes``. At each mark, and at 0 minutes (the random
initialisation), notebook 05's probes (weighted kNN and logistic regression on the frozen
embeddings, fit on ``train``, C chosen on ``val``) give the **val** accuracy (the main number:
choices are made on val) and the test accuracy. The 13 geometric features are probed once
(a constant line). Everything is measured side by side in one run, on one machine.

    python benchmarks/bench_learning.py                      # marks 1,3,10,20 min on both datasets
    python benchmarks/bench_learning.py --minutes 1,3,6      # what ``make bench`` runs (LEARNING=...)
    python benchmarks/bench_learning.py --minutes 0.5 --methods moco --datasets cpi
    python benchmarks/bench_learning.py --quick              # tiny data, seconds (the unit test)

Cost on 2 idle CPU cores (estimates: training is exact by construction, the rest scaled from
CPU-time measurements): training max(minutes) per method and dataset; per dataset about 1 min
of step calibration, 20 s for the geometric features, and a probe at every mark of ~55 s for
a ResNet and ~25 s for a ViT (embedding notebook 05's 3,000 + 1,000 + 2,000 probe images,
then the logistic regression), the random inits probed once per architecture. Hence, for the
five default methods on both datasets: ``--minutes 1,2,4`` ~70 min, ``1,3,6`` (``make bench``)
~90 min, ``1,3,10,20`` (the default) ~4 h; plus, the first time, generating the OAP dataset.
``--set probes.max_train=2000 --set probes.max_test=1000`` makes the probes ~35 % cheaper.
The curve of one run is "anytime": points before the last mark are taken mid-schedule (learning
rate not annealed; see ``_learning_train``).

Writes ``learning.json`` (settings, machine, profile values, every row), ``learning.csv`` (one
row per dataset x method x mark x probe), ``learning.png`` and ``learning.md`` to ``--out``
(default build/bench/learning), prints the markdown table, and appends a one-line summary to
build/bench/learning.json (``--no-history``: not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _learning_probes import backbone_accuracies, feature_accuracies, probe_data, weights_hash  # noqa: E402
from _learning_report import COLUMNS, figure, frame, markdown_table  # noqa: E402
from _learning_train import LABELS, METHODS, arch_of, build_job, calibrate, run_to_marks, timed  # noqa: E402

DATASETS = {"cpi": "", "oap": "synthetic-oap"}  # our name -> the ``data`` value of the package
DEFAULT_METHODS = "ibot_vmf,ibot,moco,byol,supervised"
# --quick: tiny generated data, the smoke profile, one torch thread, a short logistic regression
QUICK = {"minutes": "0.03,0.06", "n_images": 200, "image_size": 32, "calib_steps": 2, "threads": 1, "max_iter": 100}


def machine() -> dict:
    """CPU model, cores, torch threads, load, versions and the commit measured."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    import icepaper

    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "loadavg_1min_start": os.getloadavg()[0], "python": platform.python_version(),
            "torch": torch.__version__, "icepaper": getattr(icepaper, "__version__", ""), "commit": commit,
            "gpu": None}


def _config(profile, data: str, out: Path, device: str, seed: int):
    from icepaper.core.config import RunConfig

    return RunConfig(notebook="bench_learning", profile=profile, seed=seed, data=data, out=out, device=device)


def load_data(name: str, profile, out: Path, device: str, seed: int, quick_root: Path | None):
    """(run config, dataset) of ``name``: the package's generated dataset at the profile's size, or
    with ``quick_root`` a tiny one generated there."""
    from icepaper.data import load_dataset

    if quick_root is None:
        cfg = _config(profile, DATASETS[name], out, device, seed)
        return cfg, load_dataset(cfg)
    from icepaper.synth.generate import generate_dataset, generate_oap_dataset

    root = quick_root / name
    make = generate_dataset if name == "cpi" else generate_oap_dataset
    ds = make(root, n_images=QUICK["n_images"], image_size=QUICK["image_size"], seed=seed, workers=1,
              progress=False)
    return _config(profile, str(root), out, device, seed), ds


def _rows_of(base: dict, acc: dict, **extra) -> list[dict]:
    return [{**base, **extra, "probe": p, "val_acc": acc[p]["val"], "test_acc": acc[p]["test"], "C": acc[p]["C"]}
            for p in ("knn", "logreg")]


def run_dataset(name: str, cfg, ds, methods: list[str], marks: list[float], work: Path, opts: dict, emit) -> dict:
    """Every method's curve on one dataset; calls ``emit(rows)`` after each probe. ``opts``:
    ``calib_steps``, ``workers`` (None: the profile's), ``max_iter`` (logistic regression)."""
    from icepaper.data.splits import pretrain_indices
    from icepaper.representations import probes

    scheme = probes.pick_scheme(ds, "cpi")
    why = probes.skip_reason(ds, scheme)
    if why:
        raise SystemExit(f"{name}: the probes cannot run ({why})")
    sp, y, classes = probe_data(cfg, ds, scheme)
    full_train = np.intersect1d(probes.probe_splits(ds, scheme)["train"], pretrain_indices(ds))
    base = {"dataset": name, "scheme": scheme, "n_train": len(sp["train"]), "n_val": len(sp["val"]),
            "n_test": len(sp["test"])}
    info = {"n_images": len(ds), "image_size": ds.size, "scheme": scheme, "n_classes": len(classes),
            "probe_rows": {s: int(len(v)) for s, v in sp.items()},
            "pretrain_images": int(len(pretrain_indices(ds))), "supervised_train_images": int(len(full_train)),
            "runs": {}}
    seed, max_iter = int(cfg.seed), int(opts["max_iter"])
    acc, secs = timed(feature_accuracies, cfg, ds, sp, y, seed, max_iter)
    rows = _rows_of({**base, "method": "features", "label": LABELS["features"], "arch": "", "mark_min": 0.0,
                     "minutes": 0.0, "step": 0, "images_seen": 0}, acc)
    print(f"[{name}] 13 geometric features: kNN val {100 * acc['knn']['val']:.1f} %, logreg val "
          f"{100 * acc['logreg']['val']:.1f} % ({secs:.0f} s)", flush=True)
    emit(rows)
    seen: dict[str, dict] = {}  # weights hash -> accuracies: equal weights (random inits) are probed once

    def probe(backbone) -> dict:
        h = weights_hash(backbone)
        if h not in seen:
            seen[h] = backbone_accuracies(cfg, ds, backbone, sp, y, seed, max_iter)
        return seen[h]

    for method in methods:
        t_run = time.perf_counter()
        job = build_job(cfg, ds, method, scheme=scheme, train_rows=full_train, y=y)
        sps, t_cal = timed(calibrate, cfg, job, work / f"{name}-{method}-calib", opts["calib_steps"], opts["workers"])
        mbase = {**base, "method": method, "label": LABELS[method], "arch": arch_of(method)}
        acc, t_eval = timed(probe, job.method.export_model())
        rows += _rows_of(mbase, acc, mark_min=0.0, minutes=0.0, step=0, images_seen=0)
        points = []
        for pt in run_to_marks(cfg, job, marks, sps, work / f"{name}-{method}", opts["workers"]):
            acc, dt = timed(probe, job.method.export_model())
            t_eval += dt
            rows += _rows_of(mbase, acc, mark_min=pt.mark_min, minutes=pt.seconds / 60.0, step=pt.step,
                             images_seen=pt.images_seen)
            points.append({"mark_min": pt.mark_min, "minutes": pt.seconds / 60.0, "step": pt.step,
                           "loss": pt.loss, "probe_seconds": dt, "loadavg_1min": os.getloadavg()[0]})
            print(f"[{name}] {LABELS[method]:>22} {pt.mark_min:g} min: step {pt.step}, trained "
                  f"{pt.seconds / 60:.2f} min; val kNN {100 * acc['knn']['val']:.1f} %, logreg "
                  f"{100 * acc['logreg']['val']:.1f} % (probes {dt:.0f} s)", flush=True)
            emit(rows)
        info["runs"][method] = {"sec_per_step_calibrated": sps, "calibration_seconds": t_cal,
                                "planned_steps": int(np.ceil(max(marks) * 60 / sps)), "training_images": job.rows,
                                "probe_seconds": t_eval, "wall_seconds": time.perf_counter() - t_run,
                                "points": points}
        emit(rows)
    return info


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", default=None, help="marks of training wall time, minutes (default 1,3,10,20)")
    ap.add_argument("--datasets", default="cpi,oap", help="cpi (synthetic CPI-like default) and/or oap")
    ap.add_argument("--methods", default=DEFAULT_METHODS, help=f"from {','.join(METHODS)}")
    ap.add_argument("--profile", default=None, help="profile whose recipe trains (default: default; --quick: smoke)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="change a profile value, e.g. --set probes.max_train=2000 (repeatable)")
    ap.add_argument("--quick", action="store_true", help="tiny generated data and the smoke profile: seconds")
    ap.add_argument("--out", default=str(HERE.parent / "build" / "bench" / "learning"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the profile's)")
    ap.add_argument("--calib-steps", type=int, default=None, help="timed steps of the calibration (default 8)")
    ap.add_argument("--no-history", action="store_true", help="do not append to build/bench/learning.json")
    a = ap.parse_args(argv)

    from icepaper.core.profiles import get_profile, parse_set

    threads = a.threads or (QUICK["threads"] if a.quick else None)
    if threads:
        torch.set_num_threads(threads)
    marks = sorted(float(m) for m in (a.minutes or (QUICK["minutes"] if a.quick else "1,3,10,20")).split(",") if m)
    if not marks or marks[0] <= 0:
        raise SystemExit("--minutes: give positive marks, e.g. 1,3,10,20")
    datasets = [d for d in a.datasets.split(",") if d]
    methods = [m for m in a.methods.split(",") if m]
    for bad in [d for d in datasets if d not in DATASETS] + [m for m in methods if m not in METHODS]:
        raise SystemExit(f"unknown dataset or method {bad!r}: datasets {list(DATASETS)}, methods {list(METHODS)}")
    profile = get_profile(a.profile or ("smoke" if a.quick else "default"), parse_set(a.set))
    opts = {"calib_steps": a.calib_steps or (QUICK["calib_steps"] if a.quick else 8), "workers": a.workers,
            "max_iter": QUICK["max_iter"] if a.quick else 2000}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"learning curves: marks {marks} min; {len(methods)} methods x {len(datasets)} datasets -> training "
          f"{max(marks) * len(methods) * len(datasets):.1f} CPU-minutes plus calibration and probes; "
          f"profile {profile.name}", flush=True)
    rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(),
           "settings": {"minutes": marks, "datasets": datasets, "methods": methods, "quick": a.quick,
                        "seed": a.seed, "device": a.device, **opts},
           "profile": profile.name, "overrides": dict(profile.overrides),
           "profile_values": {k: v for k, v in profile.as_dict().items()
                              if k in ("data", "pretrain", "probes", "embed", "cssl")},
           "datasets": {}, "columns": list(COLUMNS), "rows": []}
    done: list[dict] = []

    def emit(rows: list[dict]) -> None:
        rec["rows"] = done + rows
        (out / "learning.json").write_text(json.dumps(rec, indent=1, default=float))
        frame(rec["rows"]).to_csv(out / "learning.csv", index=False)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        tmp = Path(tmp)
        for name in datasets:
            (cfg, ds), t_data = timed(load_data, name, profile, out, a.device, a.seed, tmp if a.quick else None)
            print(f"[{name}] {len(ds)} images of {ds.size} px ({t_data:.0f} s to load or generate)", flush=True)
            info = run_dataset(name, cfg, ds, methods, marks, tmp / "work", opts, emit)
            info["load_seconds"] = t_data
            rec["datasets"][name] = info
            done[:] = rec["rows"]
    rec["wall_seconds"] = time.perf_counter() - t0
    rec["machine"]["loadavg_1min_end"] = os.getloadavg()[0]
    emit([])
    figure(rec["rows"], out / "learning.png",
           title=f"{profile.name} profile; one run per method, probes on val; {rec['machine']['cpu']}, "
                 f"torch threads: {rec['machine']['torch_threads']}")
    table = markdown_table(rec["rows"], marks)
    (out / "learning.md").write_text(table + "\n")
    print(table)
    print(f"wall time {rec['wall_seconds'] / 60:.1f} min; results in {out}")
    if not a.no_history:
        from _results import append_result

        last = max(marks)
        summary = {r["dataset"] + "/" + r["method"] + "/" + r["probe"]: round(r["val_acc"], 4)
                   for r in rec["rows"] if r["mark_min"] in (0.0, last) and (r["method"] == "features" or r["mark_min"] == last)}
        append_result("learning", {"time": rec["time"], "profile": profile.name, "minutes": marks,
                                   "machine": rec["machine"], "wall_seconds": rec["wall_seconds"],
                                   "val_acc_at_last_mark": summary})
    return rec


if __name__ == "__main__":
    main()
