"""The ``fairbench data`` command group: ``list``, ``fetch DATASET|all``, ``prepare SETTING [--prepared DIR]``.

:func:`register` adds the group to an argparse sub-parser collection; every handler takes the
parsed arguments and returns an exit status. Data errors and file-system errors (a full disk, a
read-only folder) print one line to stderr and give 2. ``prepare --prepared DIR`` names the folder
as ``fairbench train --prepared DIR`` reads it (``--out`` is kept as another name). ``list`` goes on
past a spec that cannot be loaded, and lists it as broken with its error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pathlib import Path

from fairbench.data.acquire import fetch, is_cached, resolve_data_dir, sha256_file
from fairbench.io import write_json_atomic
from fairbench.data.errors import SPECS_ENV, DataError
from fairbench.data.images import image_setting
from fairbench.data.prepared import DEFAULT_PREPARED_DIR, prepare
from fairbench.data.registry import DATASETS, SETTINGS, all_settings, get_dataset, list_datasets, list_settings

EXIT_DATA_ERROR = 2
ERROR_PREFIX = "fairbench data: error: "


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with ``list``, ``fetch``, ``prepare``) to ``subparsers``; return its parser."""
    data = subparsers.add_parser("data", help="list, fetch and prepare the benchmark datasets")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    p_list = commands.add_parser("list", help="settings, their sizes and whether their raw files are cached")
    _add_source_options(p_list, mirror=False)
    p_list.set_defaults(func=_guard(cmd_list), tolerant_specs=True)

    p_fetch = commands.add_parser("fetch", help="download (or copy from the mirror) and verify raw files")
    p_fetch.add_argument("dataset", metavar="DATASET", help=f"one of {', '.join(DATASETS)} or a declared dataset, or 'all'")
    p_fetch.add_argument("--manifest", default=None, metavar="FILE",
                         help="also write a JSON list of the verified files (path, size, sha256)")
    _add_source_options(p_fetch)
    p_fetch.set_defaults(func=_guard(cmd_fetch))

    p_prep = commands.add_parser("prepare", help="write the encoded table of a setting as Parquet + manifest")
    p_prep.add_argument("setting", metavar="SETTING", help=f"one of {', '.join(SETTINGS)} or a declared setting, or 'all'")
    p_prep.add_argument("--prepared", "--out", dest="out", default=str(DEFAULT_PREPARED_DIR), metavar="DIR",
                        help="folder of prepared tables, as train --prepared reads it (--out: the same; "
                             "default: %(default)s)")
    _add_source_options(p_prep)
    p_prep.set_defaults(func=_guard(cmd_prepare))
    return data


def _add_source_options(parser: argparse.ArgumentParser, *, mirror: bool = True) -> None:
    parser.add_argument(
        "--data-dir", default=None, help="raw-file cache (default: $FAIRBENCH_DATA_DIR or ~/.cache/fairbench/raw)"
    )
    parser.add_argument(
        "--spec", action="append", default=[], metavar="PATH",
        help=f"a dataset spec (YAML) or a folder of them, added to ${SPECS_ENV} (repeatable)",
    )
    if mirror:
        parser.add_argument(
            "--mirror", default=None, help="mirror folder to copy from (default: $FAIRBENCH_DATA_MIRROR)"
        )
        parser.add_argument("--base-url", default=None, help="replace the scheme and host of download URLs")


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn data errors into one line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            broken = {} if getattr(args, "tolerant_specs", False) else None  # `list` goes on past broken specs
            args.broken_specs = broken
            from fairbench.data.declare import load_declared, use_specs

            if getattr(args, "spec", None):
                use_specs(args.spec, broken=broken)
            elif broken is not None:
                load_declared(broken)
            return handler(args)
        except DataError as exc:
            print(ERROR_PREFIX + " ".join(str(exc).split()), file=sys.stderr)
            return EXIT_DATA_ERROR
        except OSError as exc:  # a full disk, a read-only or missing folder: one line, not a traceback
            where = f" ({exc.filename})" if exc.filename else ""
            print(ERROR_PREFIX + f"{exc.strerror or exc}{where}; free some space or choose a writable folder",
                  file=sys.stderr)
            return EXIT_DATA_ERROR

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def cmd_list(args: argparse.Namespace) -> int:
    """Print one row per setting: dataset, rows, groups, cells, encoded width, cached, spec file.

    Sizes a declared spec leaves unchecked print as ``?``; the paper's seven settings have no spec (``-``).
    """
    header = ("setting", "dataset", "rows", "groups", "cells", "features", "cached", "spec")
    rows = [header]
    for spec in all_settings():
        dataset = get_dataset(spec.dataset)
        image = image_setting(spec.name)  # image sources: bundled digits, or a local CelebA folder
        present = image.available(args.data_dir, None) if image is not None else is_cached(spec.dataset, args.data_dir)
        cached = "yes" if present else "no"
        sizes = (dataset.n_rows, spec.n_groups, spec.n_cells, spec.n_features)
        origin = "-" if spec.origin == "built-in" else _short(spec.origin)
        rows.append((spec.name, spec.dataset, *("?" if v is None else str(v) for v in sizes), cached, origin))
    broken = getattr(args, "broken_specs", None) or {}
    for path in sorted(broken):
        rows.append(("(broken)", "?", "?", "?", "?", "?", "?", _short(str(path))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    for path in sorted(broken):
        print(f"broken spec {_short(str(path))}: {broken[path]}")
    print(f"cache: {resolve_data_dir(args.data_dir)}")
    return 0


def _short(origin: str) -> str:
    """A spec path relative to the package's spec folder or the working folder when inside one."""
    path = Path(origin)
    for base in (Path(__file__).resolve().parent.parent.parent, Path.cwd()):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return origin


def cmd_fetch(args: argparse.Namespace) -> int:
    """Fetch one dataset (or all) and print the verified paths."""
    names = list_datasets() if args.dataset == "all" else [get_dataset(args.dataset).name]
    manifest = []
    for name in names:
        paths = fetch(name, data_dir=args.data_dir, mirror=args.mirror, base_url=args.base_url)
        for role, path in paths.items():
            print(f"{name}\t{role}\t{path}")
            manifest.append({"dataset": name, "role": role, "path": str(path), "bytes": path.stat().st_size,
                             "sha256": sha256_file(path)})
    if args.manifest:
        write_json_atomic(args.manifest, {"files": manifest})
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Prepare one setting (or all) and print the Parquet paths. ``all`` skips, with a note, an image
    setting whose source is not at hand (CelebA cannot be downloaded)."""
    names = list_settings() if args.setting == "all" else [args.setting]
    for name in names:
        image = image_setting(name)
        if args.setting == "all" and image is not None and not image.available(args.data_dir, args.mirror):
            print(f"skipped {name}: its source files are not at hand (README.md, \"Image tasks\")", file=sys.stderr)
            continue
        path = prepare(name, args.out, data_dir=args.data_dir, mirror=args.mirror, base_url=args.base_url)
        print(path)
    return 0
