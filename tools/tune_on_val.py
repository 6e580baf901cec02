"""Re-check the default profile's hand-picked pretraining settings on the validation images.

Each candidate pretrains one network with the default profile plus one changed value, then
scores it with notebook 03's kNN check (fit on ``train``, score on ``val``; never ``test``,
never notebook 06's unseen campaign), paired against the profile's current setting of the same
method and against a random-init network on the same images:

    python tools/tune_on_val.py            # ~15 min on 2 idle cores; results in build/tune/

Writes ``build/tune/val_recheck.json`` and prints one table; the profile comments in
``core/profiles.py`` quote it. Runs are cached like any pretraining (a rerun is quick).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import icepaper
from icepaper.core.atomic import atomic_write_json
from icepaper.data import load_dataset
from icepaper.ssl import pretrain
from icepaper.ssl.report import paired_gain

ROOT = Path(__file__).resolve().parents[1]

#: (method, changed profile value or None for the current setting)
CANDIDATES = [
    ("ibot_vmf", None),
    ("ibot_vmf", ("pretrain.n_prototypes", 1024)),
    ("ibot_vmf", ("pretrain.ibot_momentum", 0.99)),
    ("ibot_vmf", ("pretrain.teacher_temp", 0.07)),
    ("moco", None),
    ("moco", ("pretrain.moco_lr", 0.3)),
    ("byol", None),
    ("byol", ("pretrain.byol_lr", 0.2)),
]


def main() -> int:
    out = ROOT / "build" / "tune"
    base = icepaper.setup("tune_on_val", profile="default", seed=0, data="", out=str(out), overrides={})
    ds = load_dataset(base)
    random_hits = {a: pretrain.knn_hits(base, ds, pretrain.random_backbone(base, a)) for a in ("vit", "resnet")}
    current: dict[str, object] = {}
    rows = []
    for method, change in CANDIDATES:
        over = {} if change is None else {change[0]: change[1]}
        cfg = icepaper.setup("tune_on_val", profile="default", seed=0, data="", out=str(out), overrides=over)
        t0 = time.time()
        run = pretrain.pretrained(cfg, ds, method, progress=False)
        hits = pretrain.knn_hits(cfg, ds, run)
        rnd = random_hits["vit" if method.startswith("ibot") else "resnet"]
        if change is None:
            current[method] = hits
        g, glo, ghi = paired_gain(hits, rnd)
        d, dlo, dhi = paired_gain(hits, current[method]) if change is not None else (0.0, 0.0, 0.0)
        rows.append({"method": method, "change": "current" if change is None else f"{change[0]}={change[1]}",
                     "knn_val": round(100 * float(hits.mean()), 2), "gain_vs_random_pp": round(g, 2),
                     "gain_ci95": [round(glo, 2), round(ghi, 2)], "vs_current_pp": round(d, 2),
                     "vs_current_ci95": [round(dlo, 2), round(dhi, 2)], "n_val": int(len(hits)),
                     "seconds": round(time.time() - t0, 1)})
        r = rows[-1]
        print(f"{method:9s} {r['change']:30s} kNN(val) {r['knn_val']:5.1f} %  vs random {g:+5.1f} "
              f"[{glo:+.1f}, {ghi:+.1f}]  vs current {d:+5.1f} [{dlo:+.1f}, {dhi:+.1f}]  ({r['seconds']:.0f} s)",
              flush=True)
    atomic_write_json(out / "val_recheck.json", {"rows": rows, "rule": "paired bootstrap over the val images, 95 %"})
    print(json.dumps(rows[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
