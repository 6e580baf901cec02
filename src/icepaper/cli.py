"""Command line: ``icepaper run|prepare|profiles|generate|import|export|info``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .profiles import COST, PROFILES


def _cmd_run(a: argparse.Namespace) -> int:
    from .runner import NotebookFailed, run_notebooks

    try:
        res = run_notebooks(profile=a.profile, data=a.data, out=a.out, only=a.only, resume=a.resume,
                            seed=a.seed, publish=False if a.no_publish else None)
    except NotebookFailed as e:
        print(f"icepaper run: {e}", file=sys.stderr)
        return 1
    total = sum(r.wall_s for r in res)
    print(f"{len(res)} notebook(s) ok in {total:.0f} s")
    return 0


def _cmd_prepare(a: argparse.Namespace) -> int:
    from .runner import prepare_notebooks

    for p in prepare_notebooks(a.profile, Path(a.out), data=a.data, seed=a.seed, only=a.only):
        print(p)
    return 0


def _cmd_profiles(a: argparse.Namespace) -> int:
    for name in PROFILES:
        print(f"{name:8s} {COST[name]}")
    return 0


def _cmd_generate(a: argparse.Namespace) -> int:
    from .synth import generate

    if a.kind == "oap-folder":
        dest = generate.write_oap_folder(Path(a.dest), n=a.n, seed=a.seed, workers=a.workers)
        print(f"wrote {a.n} white-on-black OAP images to {dest}/<class>/<name>.png")
        return 0
    make = generate.generate_dataset if a.kind == "cpi" else generate.generate_oap_dataset
    print(make(Path(a.dest), n_images=a.n, image_size=a.size, seed=a.seed, workers=a.workers))
    return 0


def _cmd_import(a: argparse.Namespace) -> int:
    from .data.importers import import_any

    report = import_any(Path(a.src), Path(a.dest), image_size=a.size, on_error=a.on_error)
    print(report)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from .data.importers import export_folder
    from .data.packed import PackedDataset

    export_folder(PackedDataset(a.src), Path(a.dest), scheme=a.scheme)
    print(f"exported {a.src} -> {a.dest}")
    return 0


def _cmd_check_data(a: argparse.Namespace) -> int:
    from .data.check import check_data, exit_code

    report = check_data(Path(a.path), label_scheme=a.label_scheme)
    print(report)
    return exit_code(report)


def _cmd_info(a: argparse.Namespace) -> int:
    from .data.packed import PackedDataset

    ds = PackedDataset(a.path)
    print(ds)
    print(ds.meta.describe(include="all").T.to_string())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="icepaper", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="execute the notebooks in order with papermill")
    r.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)}")
    r.add_argument("--data", default="", help="packed dataset, image folder or CPI-sheet folder, or "
                   "'synthetic-oap' (generated 2D-S/PIP images) (default: the embedded synthetic dataset)")
    r.add_argument("--out", default=None, help="output folder (default: build/<profile>)")
    r.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    r.add_argument("--resume", action="store_true", help="skip notebooks already run ok with the same inputs")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-publish", action="store_true",
                   help="do not copy executed notebooks/figures back into the repository")
    r.set_defaults(func=_cmd_run)

    pr = sub.add_parser("prepare", help="parameterise notebook copies without running them (nbval)")
    pr.add_argument("--profile", default="smoke")
    pr.add_argument("--out", required=True)
    pr.add_argument("--data", default="")
    pr.add_argument("--only", default=None)
    pr.add_argument("--seed", type=int, default=0)
    pr.set_defaults(func=_cmd_prepare)

    sub.add_parser("profiles", help="list the profiles and their cost").set_defaults(func=_cmd_profiles)

    g = sub.add_parser("generate", help="write a synthetic packed dataset (CPI-like or OAP) or OAP image folder")
    g.add_argument("dest")
    g.add_argument("--kind", choices=["cpi", "oap", "oap-folder"], default="cpi",
                   help="cpi: CPI/HOLIMO-like packed set; oap: 2D-S/PIP packed set; "
                   "oap-folder: 2D-S/PIP images as a white-on-black <dest>/<class>/<name>.png folder")
    g.add_argument("--n", type=int, default=24000)
    g.add_argument("--size", type=int, default=96)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=2)
    g.set_defaults(func=_cmd_generate)

    im = sub.add_parser("import", help="import an image folder or CPI sheets into the packed format")
    im.add_argument("src")
    im.add_argument("dest")
    im.add_argument("--size", type=int, default=96)
    im.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    im.set_defaults(func=_cmd_import)

    ex = sub.add_parser("export", help="export a packed dataset to <dest>/<class>/<image>.png")
    ex.add_argument("src")
    ex.add_argument("dest")
    ex.add_argument("--scheme", default="cpi")
    ex.set_defaults(func=_cmd_export)

    cd = sub.add_parser("check-data", help="inspect a data folder without writing anything: layout, classes, "
                        "bad files, duplicates, which notebook sections will run (exit 2: nothing importable)")
    cd.add_argument("path")
    cd.add_argument("--label-scheme", default="cpi", help="label column the class folders fill (default cpi)")
    cd.set_defaults(func=_cmd_check_data)

    inf = sub.add_parser("info", help="summarise a packed dataset")
    inf.add_argument("path")
    inf.set_defaults(func=_cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError, KeyError) as e:
        print(f"icepaper {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
