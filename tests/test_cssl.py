"""Label-budget study (Chu et al. 2025): folds, nested budgets, labelling-cost arithmetic, an end-to-end run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from icepaper.cssl import (
    budget_list,
    decreased_accuracy,
    is_complex,
    knee_index,
    labelling_seconds,
    nested_subsets,
    process_group,
    stratified_folds,
    time_saved_hours,
)
from icepaper.cssl.heads import HeadParams, n_steps, train_head
from icepaper.ssl.schedules import warmup_cosine


def _imbalanced_labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = {"Column": 500, "Column_aged": 300, "Column_aggregate": 120, "Small": 60, "CPC": 17, "Plate": 3}
    y = np.concatenate([[c] * n for c, n in counts.items()])
    return y[rng.permutation(len(y))]


# --------------------------------------------------------------------------- folds and budgets


def test_folds_disjoint_cover_and_stratified():
    y = _imbalanced_labels()
    folds = stratified_folds(y, 5, seed=3)
    assert len(folds) == 5
    vals = np.concatenate([va for _, va in folds])
    assert np.array_equal(np.sort(vals), np.arange(len(y)))  # each image validates exactly once
    for tr, va in folds:
        assert not set(tr) & set(va)
        assert len(tr) + len(va) == len(y)
        for c in ("Column", "Column_aged", "Column_aggregate", "Small", "CPC"):
            share_all = np.mean(y == c)
            share_val = np.mean(y[va] == c)
            assert abs(share_val - share_all) <= 1.0 / len(va) + 1e-9, c  # within one image of the share
    # deterministic per seed, different across seeds
    again = stratified_folds(y, 5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    other = stratified_folds(y, 5, seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other))


def test_folds_reject_too_few_images():
    with pytest.raises(ValueError, match="cannot make 5 folds"):
        stratified_folds(["a", "b", "a"], 5)


def test_budget_list_doubling_and_explicit():
    assert budget_list(18864) == [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 18864]  # the paper's list
    assert budget_list(8192) == [128, 256, 512, 1024, 2048, 4096, 8192]
    assert budget_list(100) == [100]
    assert budget_list(1072) == [128, 256, 512, 1072]  # 1024 is within 10 % of all 1072: left out
    assert budget_list(1138) == [128, 256, 512, 1024, 1138]
    assert budget_list(400, [128, "all"]) == [128, 400]
    assert budget_list(400, [128, 256, 1024]) == [128, 256, 400]
    with pytest.raises(ValueError):
        budget_list(400, "tripling")


def test_budget_subsets_nested_stratified_and_deterministic():
    y = _imbalanced_labels(1)
    budgets = budget_list(len(y), "doubling", start=64)
    subs = nested_subsets(y, budgets, seed=7)
    for small, large in zip(budgets, budgets[1:]):
        assert len(subs[small]) == small
        assert set(subs[small]) <= set(subs[large])  # the 128 are inside the 256
    assert len(set(subs[budgets[-1]])) == len(y)
    # proportional stratification: each class within 1.5 images of its expected count
    for b in budgets:
        for c in np.unique(y):
            expect = b * np.mean(y == c)
            assert abs(np.sum(y[subs[b]] == c) - expect) <= 1.5, (b, c)
    again = nested_subsets(y, budgets, seed=7)
    assert all(np.array_equal(subs[b], again[b]) for b in budgets)
    assert not np.array_equal(subs[64], nested_subsets(y, budgets, seed=8)[64])


# --------------------------------------------------------------------------- labelling cost


def test_basic_and_complex_classes():
    assert not is_complex("Column") and not is_complex("Frozen droplet") and not is_complex("CPC")
    assert is_complex("Column_aged") and is_complex("Droplet_aggregate") and is_complex("rimed")
    assert process_group("Plate_aged_aggregate") == "aged_aggregate"
    assert process_group("Droplet_aged") == "aged"
    assert process_group("Irregular_aggregate") == "aggregate"
    assert process_group("Small") == "basic"


def test_labelling_time_doa_and_time_saved_by_hand():
    labels = ["Column"] * 10 + ["Column_aged"] * 5 + ["CPC_aggregate"] * 2
    assert labelling_seconds(labels) == 10 * 6 + 7 * 60  # 480 s
    assert labelling_seconds(labels, flat_s=33) == 17 * 33
    # the paper's numbers: 18864 images at 33 s, 2048 labelled -> 154 h saved
    ts = time_saved_hours(18864 * 33, 2048 * 33)
    assert ts == pytest.approx((18864 - 2048) * 33 / 3600)
    assert round(float(ts)) == 154
    # ROA 78.0 %, OA 74.2 % -> DOA 3.8 pp
    assert decreased_accuracy(78.0, [74.2, 78.5]) == pytest.approx([3.8, -0.5])


def test_knee_by_maximum_distance_below_the_chord():
    # budgets 128..4096, 4 at full; DOA flat until 1024 then steep (the paper's shape)
    ts = np.array([100.0, 98.0, 95.0, 90.0, 80.0, 60.0, 0.0])  # hours saved, most first
    doa = np.array([20.0, 14.0, 9.0, 5.0, 4.0, 2.5, 0.0])
    # by hand: x=(ts-0)/100, y=doa/20; chord from (0,0) to (1,1) is y=x; gap = x - y
    gaps = ts / 100 - doa / 20
    assert knee_index(ts, doa) == int(np.argmax(gaps[1:-1]) + 1) == 3  # 90 h saved for 5 pp
    # a straight line has no knee; fewer than three points neither
    assert knee_index([0, 1, 2], [0, 1, 2]) is None
    assert knee_index([0, 1], [0, 1]) is None


def test_confusion_views_by_hand():
    from icepaper.cssl.metrics import confusion_groups, precision_recall

    classes = ["Column", "Plate", "Column_aged", "Plate_aggregate", "Column_aged_aggregate"]
    cm = np.array([[9, 1, 0, 0, 0],
                   [2, 8, 0, 0, 0],
                   [0, 1, 7, 2, 0],
                   [0, 0, 3, 5, 1],
                   [1, 0, 0, 2, 4]])
    basic, names = confusion_groups(cm, classes, "basic")
    assert names == ["Column", "Plate"] and basic.tolist() == [[9, 1], [2, 8]]
    proc, names = confusion_groups(cm, classes, "process")
    assert names == ["aged", "aggregate", "aged_aggregate"]
    assert proc.tolist() == [[7, 2, 0], [3, 5, 1], [0, 2, 4]]  # rows to basic classes are dropped
    prec, rec, oa = precision_recall(proc)
    assert rec.tolist() == pytest.approx([700 / 9, 500 / 9, 400 / 6])
    assert prec.tolist() == pytest.approx([70.0, 500 / 9, 80.0])
    assert oa == pytest.approx(1600 / 24)


# --------------------------------------------------------------------------- heads


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 0.1, 10) == pytest.approx(1e-5)
    assert warmup_cosine(10, 100, 0.1, 10) == pytest.approx(0.1)
    assert warmup_cosine(100, 100, 0.1, 10) == pytest.approx(0.0, abs=1e-12)
    assert n_steps(128, HeadParams(epochs=2, min_steps=50, batch_size=64)) == 50
    assert n_steps(6400, HeadParams(epochs=2, min_steps=50, batch_size=64)) == 200


def test_head_learns_separable_features_and_logs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 3
    y = rng.integers(0, 4, 300)
    x = centres[y] + rng.normal(size=(300, 16))
    hp = HeadParams(hidden=32, epochs=5, min_steps=40, batch_size=32, n_evals=4)
    head, log = train_head(x[:200], y[:200], 4, hp, seed=0, x_val=x[200:], y_val=y[200:])
    assert len(log.loss) == n_steps(200, hp)
    assert np.mean(log.loss[-5:]) < np.mean(log.loss[:5])
    assert log.val_acc[-1] > 90.0
    head2, log2 = train_head(x[:200], y[:200], 4, hp, seed=0, x_val=x[200:], y_val=y[200:])
    assert log.loss == log2.loss  # deterministic


# --------------------------------------------------------------------------- end to end


def _draw(cls: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A dark particle on a bright background whose shape says its class."""
    import cv2

    im = np.full((size, size), 230, np.uint8)
    c = size // 2 + rng.integers(-2, 3, 2)
    ang = rng.uniform(0, 180)
    if cls.startswith("Column"):
        box = cv2.boxPoints(((float(c[0]), float(c[1])), (size * 0.7, size * 0.18), ang)).astype(np.int32)
        cv2.fillPoly(im, [box], 40)
        if "aggregate" in cls:
            box = cv2.boxPoints(((float(c[0]), float(c[1])), (size * 0.6, size * 0.16), ang + 70)).astype(np.int32)
            cv2.fillPoly(im, [box], 40)
        if "aged" in cls:
            for _ in range(6):
                p = rng.integers(4, size - 4, 2)
                cv2.circle(im, (int(p[0]), int(p[1])), 2, 60, -1)
    else:  # Plate
        cv2.circle(im, (int(c[0]), int(c[1])), int(size * 0.3), 50, -1)
    noise = rng.normal(0, 6, im.shape)
    return np.clip(im + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def user_folder(tmp_path):
    """An image folder with 4 classes over two campaigns (the second has no Plates)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    src = tmp_path / "imgs"
    rows = []
    plan = {"Column": 40, "Column_aged": 24, "Column_aggregate": 16, "Plate": 20}
    for cls, n in plan.items():
        (src / cls).mkdir(parents=True)
        for i in range(n):
            name = f"{cls}_{i:03d}"
            Image.fromarray(_draw(cls, rng)).save(src / cls / f"{name}.png")
            camp = "B" if (cls != "Plate" and i % 4 == 0) else "A"
            rows.append({"image_id": name, "campaign": camp})
    pd.DataFrame(rows).to_csv(src / "metadata.csv", index=False)
    return src


def _test_cfg(tmp_path, **over):
    cssl = {"budgets": [16, 32, "all"], "min_budget": 16, "folds": 2, "finetune": "head", "hidden": 32,
            "epochs": 5, "min_steps": 30, "batch_size": 16, "lr": 0.05, "tsne_points": 20,
            "baseline_img_size": 32, "baseline_epochs": 1, "baseline_min_steps": 4, "baseline_batch_size": 16,
            "baseline_lr": 0.05, "finetune_lr": 0.01, **over}
    prof = SimpleNamespace(name="test", cssl=cssl, embed={"batch_size": 32},
                           pretrain={"resnet": "resnet10t", "resnet_img_size": 32, "num_workers": 0},
                           augment={"global_size": 32, "local_size": 16, "n_local": 0})
    return SimpleNamespace(profile=prof, seed=0, device="cpu")


def _encoders(cfg):
    import torch

    from icepaper.cssl import Encoder
    from icepaper.ssl.backbones import create_backbone

    def maker(seed):
        def make():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return create_backbone(cfg, "resnet", "scratch")
        return make

    return {m: Encoder(m, m, "random (test)", {"kind": "test", "seed": k}, 32, maker(k))
            for k, m in enumerate(("moco", "supervised"))}


def test_end_to_end_on_an_image_folder(tmp_path, monkeypatch, user_folder):
    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    from icepaper.cssl import plan_tasks, run_study
    from icepaper.data import PackedDataset
    from icepaper.data.importers import import_folder

    import_folder(user_folder, tmp_path / "packed", image_size=32, progress=False)
    ds = PackedDataset(tmp_path / "packed")
    cfg = _test_cfg(tmp_path)
    tasks = plan_tasks(ds)
    assert [t.scheme for t in tasks] == ["cpi"]  # the folder's classes land in the default scheme
    t = tasks[0]
    assert t.train_campaign == "A" and t.gen_campaign == "B"
    assert set(ds.meta.campaign.iloc[t.gen]) == {"B"} and not set(t.pool) & set(t.gen)
    res = run_study(cfg, ds, tasks=tasks, encoders=_encoders(cfg), progress=False)
    budgets = res.budgets("cpi")
    assert budgets[:2] == [16, 32] and budgets[-1] >= 32
    acc = res.accuracy()
    assert len(res.runs) == 2 * len(budgets) * 2  # folds x budgets x models
    assert acc["mean"].between(0, 100).all()
    # the runs of one fold are nested and labelled-time grows with the budget
    r = res.runs[(res.runs.model == "moco") & (res.runs.fold == 0)].sort_values("budget")
    assert (np.diff(r.label_s.to_numpy()) > 0).all()
    cm = res.confusion("cpi", "moco")
    assert cm.shape == (len(res.classes("cpi")),) * 2
    assert cm.sum() == pytest.approx(len(t.pool) / 2)  # every pool image validated once, mean of 2 folds
    assert res.has_generalization("cpi")
    assert res.accuracy("gen")["mean"].notna().all()
    curve = res.labelling_curve("cpi")
    assert curve.time_saved_h.iloc[-1] == pytest.approx(0.0)
    h = res.headline()
    assert set(h["schemes"]["cpi"]["accuracy"]) == {"moco", "supervised"}
    # every view of the notebook is computed from these results
    from icepaper.cssl import plots
    from icepaper.papers import chu2025 as claims

    table = claims.paper_claims(res)
    assert set(table.agrees.dropna()) <= {True, False}
    assert {"Fig. 4", "Fig. 7", "Fig. 12", "Fig. A2"} <= set(table.figure)  # user classes use the 19-class views
    assert "Fig. 12" in claims.sentences(res, "Fig. 12")
    assert res.accuracy_table("cpi").shape == (len(budgets), 3)  # 2 models + the majority-class row
    assert list(res.accuracy_table("cpi"))[-1] == "Majority class"
    for fig in (plots.accuracy_boxes(res, "cpi", which="gen"), plots.cost_figure(res, "cpi"),
                plots.confusion_figure(res, "cpi", "process"), plots.tsne_figure(res, "cpi"),
                plots.loss_curves(res, "cpi")):
        assert fig.axes
        plots.plt.close(fig)
    # cached: a second call loads the same folder
    again = run_study(cfg, ds, tasks=tasks, encoders=_encoders(cfg), progress=False)
    assert again.folder == res.folder
    pd.testing.assert_frame_equal(again.runs.drop(columns="seconds"), res.runs.drop(columns="seconds"))


def test_no_campaign_column_means_no_generalization(tmp_path, monkeypatch, packed_factory):
    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    from icepaper.cssl import plan_tasks, run_study
    from icepaper.papers import chu2025 as claims

    rng = np.random.default_rng(1)
    labels = ["Column"] * 24 + ["Plate"] * 16
    imgs = np.stack([_draw(c, rng) for c in labels])
    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(40)], "split": "train", "source_file": "",
                         "cpi": labels})
    ds = packed_factory(imgs, meta)
    (t,) = plan_tasks(ds)
    assert t.gen_campaign is None and len(t.gen) == 0 and "no generalization" in t.note
    assert t.classes == ["Column", "Plate"]
    cfg = _test_cfg(tmp_path, budgets=[8, "all"], min_budget=8, tsne_points=10)
    res = run_study(cfg, ds, tasks=[t], encoders=_encoders(cfg), progress=False)
    assert not res.has_generalization("cpi") and res.runs.gen_oa.isna().all()
    assert res.runs.oa.notna().all() and "generalization" not in res.headline()["schemes"]["cpi"]
    assert "Fig. 12" not in set(claims.paper_claims(res).figure)


def test_unlabelled_dataset_is_refused_clearly(packed_factory):
    from icepaper.cssl import labelled_schemes, plan_tasks

    meta = pd.DataFrame({"image_id": [f"i{k}" for k in range(6)], "split": "train", "source_file": ""})
    ds = packed_factory(np.full((6, 32, 32), 200, np.uint8), meta)
    assert labelled_schemes(ds) == []
    with pytest.raises(ValueError, match="no labelled images"):
        plan_tasks(ds)


def test_paper_figure_names():
    from icepaper.papers.chu2025 import figure_file, paper_figure

    assert paper_figure("accuracy", "habit19") == "Fig. 4" and paper_figure("accuracy", "habit4") == "Fig. 9"
    assert paper_figure("cost", "cpi") == "Fig. 5" and paper_figure("generalization", "habit4") == "Fig. 12"
    assert figure_file("loss", "habit19") == "chu2025_figA2_loss_habit19"
    with pytest.raises(ValueError, match="unknown figure kind"):
        paper_figure("roc", "habit4")


def test_study_tasks_say_what_cannot_run(packed_factory):
    from icepaper.cssl import sparse_classes, study_tasks

    def ds_of(name, **cols):
        n = len(next(iter(cols.values()))) if cols else 6
        meta = pd.DataFrame({"image_id": [f"{name}{k}" for k in range(n)], "split": "train", "source_file": "",
                             **cols})
        return packed_factory(np.full((n, 8, 8), 200, np.uint8), meta, name=name)

    tasks, why = study_tasks(ds_of("unl"), n_folds=2)
    assert tasks == [] and "no labels" in why["label-budget study"]
    tasks, why = study_tasks(ds_of("one", cpi=["Column"] * 10), n_folds=2)
    assert tasks == [] and why == {"label-budget study (cpi)": "one class only ('Column')"}
    tasks, why = study_tasks(ds_of("few", cpi=["Column", "Plate", "Plate"]), n_folds=2)
    assert tasks == [] and "fewer than 2 per fold" in why["label-budget study (cpi)"]
    # a 4-class habit4 column beside a one-class habit19: the habit4 study runs, habit19 says why not
    h4 = ["Column"] * 10 + ["Column_aged"] * 6 + ["Column_aggregate"] * 3
    tasks, why = study_tasks(ds_of("mix", habit19=["Column"] * 19, habit4=h4), n_folds=2)
    assert [t.scheme for t in tasks] == ["habit4"] and list(why) == ["label-budget study (habit19)"]
    note = sparse_classes(tasks[0], n_folds=2)
    assert "1 of 3 classes" in note and "Column_aggregate 3" in note
    assert sparse_classes(tasks[0], n_folds=1) == ""


def test_confusion_views_need_the_classes_they_compare():
    from icepaper.cssl.metrics import view_problem

    holimo = ["Column", "Plate", "Column_aged", "Column_aggregate", "Plate_aged_aggregate"]
    assert view_problem(holimo, "basic") is None and view_problem(holimo, "process") is None
    oap = ["column", "plate", "aggregate", "graupel", "compact"]
    assert view_problem(oap, "basic") is None  # aggregate is complex, the rest basic
    assert "1 process" in view_problem(oap, "process")
    assert "not split" in view_problem(["column", "plate"], "basic")
    with pytest.raises(ValueError):
        view_problem(holimo, "all")


def test_tsne_inputs_never_overflow_float16():
    from icepaper.cssl.study import _half

    x = np.array([[1.0, -2.0], [3e5, 4.0]], np.float32)
    h = _half(x)
    assert h.dtype == np.float16 and np.isfinite(h).all()
    np.testing.assert_allclose(h.astype(np.float32), x * (6e4 / 3e5), rtol=1e-3)
    small = np.array([[0.5, 1.5]], np.float32)
    np.testing.assert_array_equal(_half(small), small.astype(np.float16))  # unchanged below the limit


def test_majority_oa_predicts_the_training_majority():
    from icepaper.cssl.study import majority_oa

    assert majority_oa(np.array([2, 2, 0]), np.array([2, 0, 0, 1])) == pytest.approx(25.0)
    assert majority_oa(np.array([0, 1, 1]), np.array([1, 1, 1])) == pytest.approx(100.0)
    assert np.isnan(majority_oa(np.array([0]), np.array([], dtype=int)))


def test_baseline_trains_end_to_end_on_the_budget_only(tmp_path, monkeypatch, user_folder):
    """The supervised baseline starts from random init, every encoder weight moves during its
    training, it sees only its budget's images; the majority row is the test fold's majority share."""
    import torch

    import icepaper.cssl.finetune as ft
    from icepaper.cssl import plan_tasks, run_study
    from icepaper.cssl.encoders import baseline_encoder
    from icepaper.cssl.study import _run_seed
    from icepaper.data import PackedDataset
    from icepaper.data.importers import import_folder
    from icepaper.ssl.backbones import create_backbone

    monkeypatch.setenv("ICEPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ICEPAPER_IMAGENET_WEIGHTS", raising=False)
    import_folder(user_folder, tmp_path / "packed", image_size=32, progress=False)
    ds = PackedDataset(tmp_path / "packed")
    cfg = _test_cfg(tmp_path)
    (task,) = plan_tasks(ds)
    base = baseline_encoder(cfg)
    assert base.end_to_end and base.identity["kind"] == "scratch" and "end to end" in base.init
    torch.manual_seed(cfg.seed)
    fresh = create_backbone(cfg, "resnet", "scratch").state_dict()
    init = {k: v.clone() for k, v in base.make().state_dict().items()}
    assert all(torch.equal(init[k], v) for k, v in fresh.items())  # random (timm) init from the run's seed
    moco = _encoders(cfg)["supervised"]  # seed 1: a stand-in "pretrained" encoder, other weights than the baseline's
    moco.name = "moco"
    assert any(not torch.equal(init[k], v) for k, v in moco.make().state_dict().items())

    calls = []
    real = ft.finetune

    def spy(encoder, ds_, rows, y, *a, **kw):
        before = {k: v.clone() for k, v in encoder.state_dict().items()}
        model, log = real(encoder, ds_, rows, y, *a, **kw)
        after = model.encoder.state_dict()
        calls.append({"rows": np.asarray(rows).copy(), "depth": a[2], "start": before,
                      "moved": [k for k, v in after.items() if v.is_floating_point() and not torch.equal(before[k], v)],
                      "params": [k for k, _ in model.encoder.named_parameters()]})
        return model, log

    monkeypatch.setattr(ft, "finetune", spy)
    res = run_study(cfg, ds, tasks=[task], encoders={"moco": moco, "supervised": base}, progress=False)
    budgets = res.budgets("cpi")
    folds = stratified_folds(task.y, cfg.profile.cssl["folds"], cfg.seed)
    assert len(calls) == len(folds) * len(budgets)  # the baseline's runs only: moco trains its head on features
    k = 0
    for fold, (tr, va) in enumerate(folds):
        subsets = nested_subsets(task.y[tr], budgets, seed=_run_seed(cfg.seed, fold, 0))
        for b in budgets:
            c = calls[k]
            k += 1
            assert c["depth"] == "all"
            assert all(torch.equal(c["start"][n], init[n]) for n in init)  # starts from random init every run
            assert set(c["params"]) <= set(c["moved"])  # every encoder weight trained (not frozen)
            np.testing.assert_array_equal(np.sort(c["rows"]), np.sort(task.pool[tr[subsets[b]]]))
            assert len(c["rows"]) == b and not set(c["rows"]) & (set(task.pool[va]) | set(task.gen))
    assert set(res.runs[res.runs.model == "supervised"].trained) == {"all"}
    assert set(res.runs[res.runs.model == "moco"].trained) == {"head"}
    assert res.info["models"]["supervised"]["trained"] == "all"
    # the majority row: the share of the test fold's most frequent class, the same for every budget
    m = res.majority_runs
    assert len(m) == len(folds) * len(budgets)
    for fold, (_, va) in enumerate(folds):
        share = 100.0 * np.bincount(task.y[va]).max() / len(va)
        np.testing.assert_allclose(m[m.fold == fold].oa, share)
    assert res.majority("cpi").to_dict() == pytest.approx({b: float(m[m.budget == b].oa.mean()) for b in budgets})
    assert res.headline()["schemes"]["cpi"]["majority"] == {str(b): round(float(v), 3)
                                                           for b, v in res.majority("cpi").items()}
