"""Command line: ``icepaper run|prepare|profiles|generate|import|export|info``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .profiles import COST, PROFILES, dry_run_profile, parse_set


def _cmd_run(a: argparse.Namespace) -> int:
    from .runner import NotebookFailed, run_notebooks

    profile = dry_run_profile(a.profile) if a.dry_run else a.profile
    t0 = time.perf_counter()
    try:
        res = run_notebooks(profile=profile, data=a.data, out=a.out, only=a.only, resume=a.resume,
                            seed=a.seed, publish=False if a.no_publish else None, fail_fast=a.fail_fast,
                            overrides=parse_set(a.set))
    except NotebookFailed as e:
        res = e.results
    _print_summary(res, time.perf_counter() - t0)
    return 1 if any(r.status in ("failed", "died") for r in res) else 0


def _print_summary(res, wall_s: float) -> None:
    """One line per notebook (its one-line error when it failed), then the totals."""
    counts: dict[str, int] = {}
    print("summary:")
    for r in res:
        counts[r.status] = counts.get(r.status, 0) + 1
        line = r.error if r.error else f"{r.name:<28} {r.status}" + (f" in {r.wall_s:.0f} s" if r.wall_s else "")
        print(f"  {line}")
    total = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"{len(res)} notebook(s): {total}; {wall_s:.0f} s")


def _cmd_prepare(a: argparse.Namespace) -> int:
    from .runner import prepare_notebooks

    for p in prepare_notebooks(a.profile, Path(a.out), data=a.data, seed=a.seed, only=a.only,
                               overrides=parse_set(a.set)):
        print(p)
    return 0


def _cmd_profiles(a: argparse.Namespace) -> int:
    for name in PROFILES:
        print(f"{name:9s} {COST[name]}")
    return 0


def _cmd_generate(a: argparse.Namespace) -> int:
    from icepaper.data.destination import claim_destination
    from icepaper.synth import generate

    with claim_destination(None, Path(a.dest), "dataset", overwrite=a.overwrite):
        if a.kind == "oap-folder":
            dest = generate.write_oap_folder(Path(a.dest), n=a.n, seed=a.seed, workers=a.workers)
            print(f"wrote {a.n} white-on-black OAP images to {dest}/<class>/<name>.png")
            return 0
        make = generate.generate_dataset if a.kind == "cpi" else generate.generate_oap_dataset
        print(make(Path(a.dest), n_images=a.n, image_size=a.size, seed=a.seed, workers=a.workers))
    return 0


def _cmd_import(a: argparse.Namespace) -> int:
    from icepaper.data.importers import import_any

    report = import_any(Path(a.src), Path(a.dest), image_size=a.size, on_error=a.on_error,
                        overwrite=a.overwrite)
    print(report)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from icepaper.data.importers import export_folder
    from icepaper.data.packed import PackedDataset

    export_folder(PackedDataset(a.src), Path(a.dest), scheme=a.scheme, overwrite=a.overwrite)
    print(f"exported {a.src} -> {a.dest}")
    return 0


def _cmd_check_data(a: argparse.Namespace) -> int:
    from icepaper.data.check import check_data, exit_code

    report = check_data(Path(a.path), label_scheme=a.label_scheme)
    print(report)
    return exit_code(report)


def _cmd_info(a: argparse.Namespace) -> int:
    from icepaper.data.packed import PackedDataset

    ds = PackedDataset(a.path)
    print(ds)
    print(ds.meta.describe(include="all").T.to_string())
    return 0


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override one profile value (repeatable), e.g. --set pretrain.steps=600 --set cssl.folds=3 "
        "--set cssl.budgets='[32, \"all\"]'; sections: " + ", ".join(PROFILES["smoke"]) + ". VALUE is read as "
        "a Python/JSON literal when it is one, else as a string; the values and overrides are "
        "recorded in run.json and each results JSON")


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
    r.add_argument("--fail-fast", action="store_true",
                   help="stop at the first notebook that fails (default: report it and run the rest)")
    r.add_argument("--dry-run", action="store_true",
                   help="run the profile's dry-run variant (--profile paper --dry-run = --profile paper-dry): "
                   "its networks, crops and code paths on a few hundred generated images, two steps per "
                   "training, in minutes on a CPU")
    r.add_argument("--seed", type=int, default=0)
    _add_set(r)
    r.add_argument("--no-publish", action="store_true",
                   help="do not copy executed notebooks/figures back into the repository")
    r.set_defaults(func=_cmd_run)

    pr = sub.add_parser("prepare", help="parameterise notebook copies without running them (nbval)")
    pr.add_argument("--profile", default="smoke")
    pr.add_argument("--out", required=True)
    pr.add_argument("--data", default="")
    pr.add_argument("--only", default=None)
    pr.add_argument("--seed", type=int, default=0)
    _add_set(pr)
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
    g.add_argument("--overwrite", action="store_true", help="replace a packed dataset already at DEST")
    g.set_defaults(func=_cmd_generate)

    im = sub.add_parser("import", help="import an image folder or CPI sheets into the packed format")
    im.add_argument("src")
    im.add_argument("dest")
    im.add_argument("--size", type=int, default=96)
    im.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    im.add_argument("--overwrite", action="store_true",
                    help="replace a packed dataset already at DEST (kept until the new one is complete)")
    im.set_defaults(func=_cmd_import)

    ex = sub.add_parser("export", help="export a packed dataset to <dest>/<class>/<image>.png")
    ex.add_argument("src")
    ex.add_argument("dest")
    ex.add_argument("--scheme", default="cpi")
    ex.add_argument("--overwrite", action="store_true", help="replace an earlier export at DEST")
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


#: Bad input and refused outputs: one line "icepaper CMD: error: ..." and exit status 2.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError, TimeoutError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"icepaper {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"icepaper {args.cmd}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
