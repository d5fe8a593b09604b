"""Command line: `bench run`, `ablate`, `leaderboard`, `reproduce` and `list`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench.registry import UnknownNameError

logger = logging.getLogger("bench")


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _method_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="leaderboards", help="folder for tables and figures (default: leaderboards)")
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")


def add_run_arguments(parser: argparse.ArgumentParser, method_default: str | None = None,
                      dataset_default: str | None = None) -> None:
    parser.add_argument("--method", required=method_default is None, default=method_default,
                        help="registered method name (see `bench list`)")
    parser.add_argument("--dataset", required=dataset_default is None, default=dataset_default,
                        help="registered dataset name (see `bench list`)")
    parser.add_argument("--profile", default="cpu", help="training budget: paper, cpu or smoke (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--seeds", help="comma-separated seeds; runs the configuration once per seed (overrides --seed)")
    parser.add_argument("--data-root", help="folder with one subfolder per dataset; default: $VADBENCH_DATA_ROOT")
    parser.add_argument("--cache-dir", help="frame cache folder; default: $VADBENCH_CACHE_DIR or ~/.cache/vadbench")
    parser.add_argument("--runs-dir", default="runs", help="folder for run records (default: runs)")
    parser.add_argument("--run-id", help="name of the run folder; default: derived from the options")
    parser.add_argument("--resume", action="store_true", help="continue the run from its last epoch checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing run folder and start again")
    parser.add_argument("--ground-truth", help="ground-truth source of the dataset (Ped2: masks, official or mat)")
    parser.add_argument("--dataset-option", action="append", type=_method_option, default=[], metavar="KEY=VALUE",
                        help="dataset adapter option, JSON value (repeatable)")
    parser.add_argument("--protocol", help="evaluation protocol (default: the dataset's own, see `bench list`)")
    parser.add_argument("--protocol-option", action="append", type=_method_option, default=[], metavar="KEY=VALUE",
                        help="protocol option, JSON value (repeatable), e.g. --protocol-option aggregation=\"mean\"")
    parser.add_argument("--flow-backend", default="dis", help="optical flow backend (default: dis)")
    parser.add_argument("--flow-encoding", default="color", choices=("color", "raw"),
                        help="flow input: colour image in [0, 1] (default) or raw (u, v)")
    parser.add_argument("--flow", choices=("on", "off"),
                        help="use the flow stream (default: the input of the method's source paper, on for ours and "
                        "flow-magnitude, off for convlstm-ae, memae, ganomaly and frame-difference)")
    parser.add_argument("--first-flow", default="zero", choices=("zero", "repeat"),
                        help="flow of a video's first frame: zeros (default) or a copy of the second frame's")
    parser.add_argument("--perceptual-weights", help="path of torchvision's VGG16 ImageNet weights file")
    parser.add_argument("--drop", default="", help="comma-separated loss terms to drop (ours: pixel, feature, "
                        "temporal, perceptual, adversarial)")
    parser.add_argument("--normalization", default="none", choices=("none", "video-minmax", "global-minmax"),
                        help="score normalisation before pooling (default: none)")
    parser.add_argument("--smoothing", default="none", choices=("none", "gaussian", "moving-average"),
                        help="temporal smoothing of frame scores within each video (default: none)")
    parser.add_argument("--smoothing-sigma", type=float, default=2.0,
                        help="Gaussian sigma or half window of the smoothing, in frames (default: 2)")
    parser.add_argument("--selection", default="validation-loss", choices=("validation-loss", "last-epoch", "test-auc"),
                        help="checkpoint selection: validation-loss (default) and last-epoch use no test labels; "
                        "test-auc picks the epoch by test AUC, as the paper's early stopping does, and marks "
                        "the result as label-informed")
    parser.add_argument("--validation-videos", type=int,
                        help="normal training videos held out for selection and calibration "
                        "(default: the dataset's, 2 for Ped2 and XD, a fifth of the training clips for fight clips)")
    parser.add_argument("--train-videos", help="comma-separated training video names to use (default: all)")
    parser.add_argument("--test-videos", help="comma-separated test video names to use (default: all)")
    parser.add_argument("--option", action="append", type=_method_option, default=[], metavar="KEY=VALUE",
                        help="method option, JSON value (repeatable), e.g. --option temporal_cell=\"lstm\"")
    parser.add_argument("--workers", type=int, default=2, help="processes for cache preparation (default: 2)")
    parser.add_argument("--threads", type=int, help="torch threads for training and scoring (default: torch's "
                        "choice); on a busy 2-core machine 1 thread was about 2.5x faster per step")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def options_from_args(args: argparse.Namespace):
    from bench.runner import RunOptions

    return RunOptions(
        method=args.method,
        dataset=args.dataset,
        profile=args.profile,
        seed=args.seed,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
        runs_dir=args.runs_dir,
        run_id=args.run_id,
        resume=args.resume,
        overwrite=args.overwrite,
        ground_truth=args.ground_truth,
        dataset_options=dict(args.dataset_option),
        protocol=args.protocol,
        protocol_options=dict(args.protocol_option),
        flow_backend=args.flow_backend,
        flow_encoding=args.flow_encoding,
        use_flow=None if args.flow is None else args.flow == "on",
        first_flow=args.first_flow,
        perceptual_weights=args.perceptual_weights,
        drop=_names(args.drop) or (),
        method_options=dict(args.option),
        normalization=args.normalization,
        smoothing=args.smoothing,
        smoothing_sigma=args.smoothing_sigma,
        selection=args.selection,
        validation_videos=args.validation_videos,
        train_videos=_names(args.train_videos),
        test_videos=_names(args.test_videos),
        workers=args.workers,
        threads=args.threads,
        progress=not args.no_progress,
    )


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _seeds(args: argparse.Namespace) -> list[int]:
    if not args.seeds:
        return [args.seed]
    try:
        return [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None


def _print_record(record: dict, runs_dir: str) -> None:
    metrics = record["metrics"]
    profile = record["provenance"]["profile"]
    scale = "" if record["provenance"]["paper_scale"] else ", reduced budget"
    print(f"run {record['run_id']} ({profile['name']} profile{scale})")
    for key in ("micro_auc", "macro_auc", "ap", "pr_auc_trapezoid", "clip_auc"):
        if key in metrics:
            print(f"  {key:<20} {_format(metrics[key])}")
    for key, note in (("f1_fixed", "threshold from held-out normal video"),
                      ("f1_youden_global", "oracle threshold: uses test labels"),
                      ("f1_youden_per_video", "oracle threshold: uses test labels")):
        if metrics.get(key) is not None:
            print(f"  {key:<20} {_format(metrics[key]['f1'])}  ({note})")
    print(f"  record: {runs_dir}/{record['run_id']}/metrics.json")


def command_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bench.runner import run

    base = options_from_args(args)
    for seed in _seeds(args):
        _print_record(run(replace(base, seed=seed)), args.runs_dir)
    return 0


def _run_or_reuse(options) -> dict:
    """Run, or reuse a completed run with the same options (its folder name is derived from them)."""
    from dataclasses import replace

    from bench.records import STATUS_COMPLETE, RunFolder
    from bench.runner import run

    folder = RunFolder(Path(options.runs_dir) / (options.run_id or options.default_run_id()))
    if folder.status() == STATUS_COMPLETE:
        logger.info("reusing completed run %s", folder.path)
        return json.loads(folder.file("metrics.json").read_text())
    return run(replace(options, resume=folder.path.exists()))


def command_ablate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bench.leaderboard import write_leaderboards

    variant = options_from_args(args)
    # The full model: no dropped terms, the method's default flow setting and backend.
    full = replace(variant, drop=(), use_flow=None, flow_backend="dis")
    if (variant.drop, variant.use_flow, variant.flow_backend) == (full.drop, full.use_flow, full.flow_backend):
        raise ValueError("nothing to ablate: pass --drop TERMS, --flow on or off against the method's default, "
                         "or --flow-backend NAME")
    for seed in _seeds(args):
        for options in (full, variant):
            _print_record(_run_or_reuse(replace(options, seed=seed)), args.runs_dir)
    write_leaderboards(Path(args.runs_dir), Path(args.out), figures=not args.no_figures)
    print(f"ablation table: {args.out}/ablations.md")
    return 0


def command_leaderboard(args: argparse.Namespace) -> int:
    from bench.leaderboard import write_leaderboards

    boards = write_leaderboards(Path(args.runs_dir), Path(args.out), figures=not args.no_figures)
    for name in boards:
        print(f"wrote {args.out}/{name}.md and {args.out}/{name}.csv")
    return 0


def command_reproduce(args: argparse.Namespace) -> int:
    """Run the leaderboard suite, rebuild the tables and compare them with the committed ones."""
    import tempfile

    import datasets.registered  # noqa: F401
    import methods.registered  # noqa: F401
    from dataclasses import replace

    from bench.leaderboard import write_leaderboards
    from bench.suite import TOLERANCE, compare_tables, leaderboard_suite, options_for
    from datasets import DATASETS
    from methods import METHODS

    base = replace(options_from_args(args), method="", dataset="")
    entries = leaderboard_suite(METHODS.names(), DATASETS.names())
    for index, entry in enumerate(entries, 1):
        for seed in _seeds(args):
            logger.info("suite run %d/%d: %s on %s, seed %d", index, len(entries), entry.method, entry.dataset, seed)
            _run_or_reuse(replace(options_for(entry, base), seed=seed))

    if args.update:
        write_leaderboards(Path(args.runs_dir), Path(args.out), figures=not args.no_figures)
        print(f"leaderboards updated in {args.out}; commit them with their records")
        return 0

    with tempfile.TemporaryDirectory(prefix="leaderboards-") as scratch:
        write_leaderboards(Path(args.runs_dir), Path(scratch), figures=not args.no_figures)
        problems = compare_tables(Path(args.out), Path(scratch))
        if args.figures_dir:
            import shutil

            shutil.copytree(Path(scratch), Path(args.figures_dir), dirs_exist_ok=True)
    if problems:
        print(f"regenerated leaderboards differ from the committed ones in {args.out} (tolerance {TOLERANCE}):")
        for problem in problems:
            print(f"  {problem}")
        print(f"If the change is intended, run `bench reproduce --profile {args.profile} --update` and commit "
              f"{args.out}/.")
        return 1
    print(f"regenerated leaderboards match the committed ones in {args.out} (tolerance {TOLERANCE})")
    return 0


def command_list(args: argparse.Namespace) -> int:
    import datasets.registered  # noqa: F401
    import methods.registered  # noqa: F401
    from bench.profiles import PROFILES
    from datasets import DATASETS
    from datasets.flow import FLOW_BACKENDS
    from methods import METHODS
    from protocols import PROTOCOLS

    for title, registry in (("methods", METHODS), ("datasets", DATASETS), ("protocols", PROTOCOLS),
                            ("flow backends", FLOW_BACKENDS), ("profiles", PROFILES)):
        print(f"{title}: {', '.join(registry.names())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description="vadbench: unsupervised video anomaly detection")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="train a method on a dataset, score and evaluate it")
    add_run_arguments(run_parser)
    run_parser.set_defaults(handler=command_run)

    ablate_parser = commands.add_parser("ablate", help="retrain ours with loss terms dropped or flow off, beside the "
                                        "full model, and write leaderboards/ablations.md")
    add_run_arguments(ablate_parser, method_default="ours", dataset_default="ped2")
    add_output_arguments(ablate_parser)
    ablate_parser.set_defaults(handler=command_ablate)

    board_parser = commands.add_parser("leaderboard", help="build tables and figures from completed run records")
    board_parser.add_argument("--runs-dir", default="runs", help="folder of run records (default: runs)")
    add_output_arguments(board_parser)
    board_parser.set_defaults(handler=command_leaderboard)

    reproduce_parser = commands.add_parser("reproduce", help="run the leaderboard suite and check the committed "
                                           "tables against the regenerated ones")
    add_run_arguments(reproduce_parser, method_default="", dataset_default="")
    add_output_arguments(reproduce_parser)
    reproduce_parser.add_argument("--update", action="store_true", help="write the regenerated tables to --out")
    reproduce_parser.add_argument("--figures-dir", help="also keep the regenerated tables and figures here")
    reproduce_parser.set_defaults(handler=command_reproduce)

    list_parser = commands.add_parser("list", help="show registered methods, datasets, protocols, flow backends")
    list_parser.set_defaults(handler=command_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from bench.runner import RunExistsError

    try:
        return args.handler(args)
    except (UnknownNameError, FileNotFoundError, ValueError, RunExistsError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
