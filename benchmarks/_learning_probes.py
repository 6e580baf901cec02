"""Probe accuracies for the learning-curve benchmark: notebook 05's probes, scored on val and test.

The probes are those of ``icepaper.representations.probes`` at the profile's ``probes`` settings:
weighted kNN (k, temperature) and the standardised logistic regression whose C is chosen on
val; both fit on the capped labelled ``train`` rows (``probes.probe_rows``, CPI images only when
the data mix instruments). Each gives a **val** accuracy (the number choices are made on;
for the logistic regression the chosen C's) and a **test** accuracy, as fractions in [0, 1].

Embeddings are the frozen backbone's pooled output (``ssl.embedding.embed_array``, the kNN
check's preprocessing) at the size the network trained at (``pretrain.eval_size``: a ViT's
img_size, a ResNet's ``resnet_img_size``). The 13 geometric features go through the same two
probes (median imputation, standardised), as ``probes.geometric_baseline`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import torch

PROBES = ("knn", "logreg")
SPLITS = ("train", "val", "test")


def probe_data(cfg, ds, scheme: str) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(capped probe rows by split, class index per dataset row (-1 unlabelled), class names)."""
    from icepaper.representations import probes

    p = cfg.profile.probes
    sp = probes.probe_rows(ds, scheme, {s: p[f"max_{s}"] for s in SPLITS}, seed=int(cfg.seed))
    lab = ds.labels(scheme)
    classes = sorted(lab.dropna().astype(str).unique())
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(str(v), -1) if v == v and v is not None else -1 for v in lab.to_numpy(dtype=object)],
                 dtype=np.int64)
    return sp, y, classes


def _accuracies(x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], p: Mapping, seed: int,
                impute: bool = False, max_iter: int = 2000) -> dict[str, dict[str, float]]:
    from icepaper.representations.probes import logistic_probe
    from icepaper.ssl.knn import knn_classify

    lr = logistic_probe(x["train"], y["train"], x["val"], y["val"], x["test"], Cs=list(p["logreg_C"]),
                        max_iter=max_iter, seed=seed, impute=impute)
    prep = (lambda a: lr.model[:-1].transform(a)) if impute else (lambda a: a)
    k, temp = int(p["knn_k"]), float(p["knn_temperature"])
    tr = prep(x["train"])
    out = {"logreg": {"val": lr.val_accuracy[lr.C] / 100.0,
                      "test": float(np.mean(lr.pred == y["test"])), "C": lr.C}}
    out["knn"] = {s: float(np.mean(np.asarray(knn_classify(tr, y["train"], prep(x[s]), k=k, temperature=temp))
                                   == y[s])) for s in ("val", "test")}
    out["knn"]["C"] = float("nan")
    return out


def backbone_accuracies(cfg, ds, backbone: torch.nn.Module, sp: Mapping[str, np.ndarray], y: np.ndarray,
                        seed: int = 0, max_iter: int = 2000) -> dict[str, dict[str, float]]:
    """{probe: {"val", "test", "C"}} of ``backbone``'s frozen embeddings (accuracies in [0, 1]);
    ``max_iter``: the logistic regression's iterations (notebook 05: 2000)."""
    from icepaper.ssl.embedding import embed_array
    from icepaper.ssl.pretrain import eval_size

    was_training = backbone.training
    rows = np.concatenate([sp[s] for s in SPLITS])
    e = embed_array(backbone, ds, rows, size=eval_size(cfg, backbone),
                    batch_size=int(cfg.profile.embed["batch_size"]), device=cfg.device)
    backbone.train(was_training)
    cuts = np.cumsum([len(sp[s]) for s in SPLITS])[:-1]
    x = dict(zip(SPLITS, np.split(e, cuts)))
    return _accuracies(x, {s: y[sp[s]] for s in SPLITS}, cfg.profile.probes, seed,
                       max_iter=max_iter)


def feature_accuracies(cfg, ds, sp: Mapping[str, np.ndarray], y: np.ndarray, seed: int = 0,
                       max_iter: int = 2000) -> dict[str, dict[str, float]]:
    """The same probes on the 13 geometric features (``probes.geometric_features_for``, um)."""
    from icepaper.representations.probes import geometric_features_for

    x = {s: geometric_features_for(ds, sp[s]).to_numpy(dtype=np.float32) for s in SPLITS}
    return _accuracies(x, {s: y[sp[s]] for s in SPLITS}, cfg.profile.probes, seed, impute=True,
                       max_iter=max_iter)


def weights_hash(model: torch.nn.Module) -> str:
    """A hash of the model's weights and buffers: equal initial networks are probed once."""
    h = hashlib.sha1()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
