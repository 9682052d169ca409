"""The ``eventlab`` command: the embedded emulators, the workbook, and clean-up.

    eventlab up | status | down      start, check or stop the embedded emulator
                                     (--backend localstack|ministack, default EVENTLAB_BACKEND)
    eventlab run                     execute every notebook into build/workbook (make run)
    eventlab lab                     JupyterLab with the embedded LocalStack running (make lab)
    eventlab leaks PREFIX [--delete] list (or delete) resources left under a name prefix
    eventlab deploy PATTERN          build a ready-made pattern and print its outputs as JSON
    eventlab destroy PATTERN         delete everything that deploy built
    eventlab bench [WORKLOAD...]     run benchmark workloads (default: the full set) and compare
    eventlab check TOPOLOGY.yaml     what AWS would refuse or silently drop, offline (exit 0 or 1)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from eventlab import interrupts
from eventlab.locations import build_dir
from eventlab.parameters import ParameterError
from eventlab.runtime import (
    BACKEND_ENV,
    DEFAULT_START_TIMEOUT,
    EMULATORS,
    RUNNING,
    EmulatorProcess,
    ExposedEmulatorError,
    LocalStackError,
    backend_name,
    emulator_class,
    parse_port,
)
from eventlab.target import Target, TargetError
from eventlab.workbook import NotebookError

log = logging.getLogger("eventlab")
USER_ERROR_EXIT = 2


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix: `eventlab: <message>` and exit 2, no traceback (-v
    adds it). Imported when needed: numpy and botocore would slow every `eventlab status`."""
    from eventlab.bench import BenchError
    from eventlab.leaks import LeakPrefixError
    from eventlab.measure.distributed import ClusterError
    from eventlab.topology.model import TopologyError

    return (LocalStackError, TopologyError, TargetError, ParameterError, NotebookError, BenchError, LeakPrefixError, ClusterError)


def _backend(args: argparse.Namespace) -> str:
    """The backend ``--backend`` names, else ``EVENTLAB_BACKEND``, else LocalStack (checked)."""
    return backend_name(getattr(args, "backend", None))


def _runtime(args: argparse.Namespace, *, detach: bool = False) -> EmulatorProcess:
    return emulator_class(_backend(args))(port=getattr(args, "port", None), start_timeout=args.timeout, detach=detach)


def _use(runtime: EmulatorProcess) -> dict[str, str]:
    """The environment that points targets (and notebook kernels) at ``runtime``."""
    return {"EVENTLAB_ENDPOINT_URL": runtime.endpoint_url, BACKEND_ENV: runtime.backend.key}


def _reap(*, allow_aws: bool = False) -> None:
    """Clean up after runs whose process died (killed, crashed): see eventlab.journal."""
    from eventlab.leaks import reap_orphaned_runs

    for reaped in reap_orphaned_runs(allow_aws=allow_aws):
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            print(f"cleaned up: {reaped}", file=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or find) the embedded emulator and leave it running."""
    runtime = _runtime(args, detach=True).start()
    record = runtime.record
    assert record is not None
    state = "started" if runtime.owned else "already running"
    print(f"{runtime.backend.name} {record.version} {state} at {record.endpoint_url} (pid {record.pid})")
    for warning in runtime.warnings:
        print(f"  warning: {warning}")
    print(f"  logs: {record.log_path}")
    for service, url in record.endpoints.items():
        print(f"  {service}: {url} (eventlab's own server beside it)")
    print(f"  use it: export {' '.join(f'{k}={v}' for k, v in _use(runtime).items())}")
    print(f"          aws --endpoint-url {record.endpoint_url} --region us-east-1 sqs list-queues")
    print(f"  stop it: eventlab down --backend {runtime.backend.key}")
    _reap()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 and print the endpoint only when the embedded emulator answers healthy and
    listens on loopback only (--json: backend, version, endpoint_url and endpoints as JSON)."""
    runtime = emulator_class(_backend(args))()
    name, key = runtime.backend.name, runtime.backend.key
    record = runtime.recorded()
    if record is None:
        print(f"{name} is not running (start it with `eventlab up --backend {key}`)", file=sys.stderr)
        return 1
    if record.state != RUNNING or runtime.health() is None:
        since = time.time() - record.started_at
        what = "is starting" if record.state != RUNNING else "does not answer"
        print(f"{name} {what} (pid {record.pid}, for {since:.0f} s; stop it with `eventlab down --backend {key}`)", file=sys.stderr)
        return 1
    try:
        sockets = runtime.check_listeners()
    except ExposedEmulatorError as error:
        print(f"eventlab: {error}", file=sys.stderr)
        return 2
    uptime = time.time() - record.started_at
    if getattr(args, "json", False):
        import json

        print(json.dumps({"backend": runtime.backend.key, "version": record.version,
                          "endpoint_url": record.endpoint_url, "endpoints": record.endpoints,
                          "region": record.region}))
        return 0
    print(record.endpoint_url)
    for service, url in record.endpoints.items():
        print(f"  {service}: {url}", file=sys.stderr)
    print(f"  {name} {record.version} (backend {key}), pid {record.pid}, up {uptime:.0f} s, started in {record.startup_seconds or 0:.1f} s", file=sys.stderr)
    print(f"  listening on loopback only: {', '.join(f'{s.address}:{s.port} (pid {s.pid})' for s in sockets)}", file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the embedded emulator and every process it started."""
    runtime = emulator_class(_backend(args))()
    stopped = runtime.stop(force=True)
    print(f"{runtime.backend.name} stopped" if stopped else f"{runtime.backend.name} was not running")
    _reap()
    return 0


def _parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    """``name=value`` pairs, values as text: the notebooks' parameters cells say their types."""
    parameters: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"parameter {pair!r}: write it as name=value, e.g. -p messages=10")
        parameters[key.strip()] = value
    return parameters


def cmd_run(args: argparse.Namespace) -> int:
    """Execute the notebooks against the embedded emulator and write the index of results."""
    from eventlab import workbook

    notebooks = workbook.find_notebooks(args.notebooks)
    if not notebooks:
        print("eventlab: no notebooks found under notebooks/", file=sys.stderr)
        return 1
    backend = _backend(args)
    parameters = {"target": backend, **_parse_parameters(args.parameter)}
    workbook.check_parameters(notebooks, parameters)  # before the emulator starts or anything runs
    output = Path(args.output) if args.output else build_dir() / "workbook"
    with _runtime(args) as runtime:
        os.environ.update(_use(runtime))
        try:
            results = workbook.run_all(notebooks, output, parameters=parameters)
        finally:
            # A kernel that was killed (or outlived its clean-up time) left its run journaled.
            _reap(allow_aws=parameters.get("target") == "aws")
    failed = [r for r in results if not r.ok]
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.notebook:<40} {result.seconds:7.1f} s")
    for result in failed:
        print(f"  {workbook.describe_failure(result)}", file=sys.stderr)
    print(f"index: {output / 'index.html'}")
    return 1 if failed else 0


def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab in notebooks/, with the embedded emulator running until Lab exits.

    Arguments eventlab does not know are passed on to ``jupyter lab``."""
    from eventlab import workbook

    with _runtime(args) as runtime:
        env = {**os.environ, **_use(runtime)}
        command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", *args.jupyter_args]
        if os.geteuid() == 0 and "--allow-root" not in command:
            command.append("--allow-root")  # containers and CI machines often run as root
        print(f"{runtime.backend.name} at {runtime.endpoint_url}; starting JupyterLab (Ctrl-C to stop both); "
              f"set a notebook's target = {runtime.backend.key!r} to use it")
        lab = subprocess.Popen(command, cwd=workbook.notebooks_dir(), env=env)
        try:
            return lab.wait()
        except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM or SIGHUP: Lab shuts its kernels down
            with contextlib.suppress(ProcessLookupError):
                lab.send_signal(signal.SIGINT if not isinstance(interrupt, interrupts.Terminated) else signal.SIGTERM)
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                lab.kill()
            if isinstance(interrupt, interrupts.Terminated):
                raise
            return 0
        finally:
            _reap()


def cmd_leaks(args: argparse.Namespace) -> int:
    """List resources under a prefix; with --delete, delete them. Exit 1 if any remain."""
    from eventlab.leaks import check_prefix, delete_leaks, find_leaks

    check_prefix(args.prefix)  # before any client is made
    target = Target.from_env({**os.environ, BACKEND_ENV: _backend(args)})
    if args.delete:
        from eventlab.leaks import forget_prefix

        deleted, failed = delete_leaks(target, args.prefix)
        for leak in deleted:
            print(f"deleted {leak}")
        for leak, why in failed:
            print(f"FAILED  {leak}: {why}", file=sys.stderr)
        if not failed:
            forget_prefix(args.prefix)
        return 1 if failed else 0
    leaks = find_leaks(target, args.prefix)
    for leak in leaks:
        print(leak)
    return 1 if leaks else 0


def _deploy_target(args: argparse.Namespace) -> Target:
    """AWS when named (``--profile``/``--region``), else the embedded emulator of ``--backend``,
    started and left running if need be (a deployment outlives this command)."""
    if args.aws:
        return Target.aws(profile=args.profile, region=args.region)
    backend = _backend(args)
    if os.environ.get("EVENTLAB_ENDPOINT_URL") and backend_name(None) == backend:
        return Target.emulator(os.environ["EVENTLAB_ENDPOINT_URL"], backend=backend)
    runtime = emulator_class(backend)(start_timeout=args.timeout, detach=True).start()
    return Target.emulator(runtime.endpoint_url, backend=backend)


def cmd_deploy(args: argparse.Namespace) -> int:
    """Build a ready-made pattern under a new run; print its outputs as JSON."""
    import json

    from eventlab import deployments
    from eventlab.patterns.registry import PATTERNS

    pattern = PATTERNS[args.pattern]
    values = {name: getattr(args, name) for name in pattern.options}
    target = _deploy_target(args)
    record = deployments.deploy(args.pattern, target, lambda run: pattern.deploy(run, values))
    # The outputs name what the article's Terraform prints: topic_arn, queue_url, function_name.
    print(json.dumps({**record.outputs, "endpoint_url": target.endpoint_url}, indent=2))
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    """Delete everything a deploy of PATTERN built (found by its run's name prefix)."""
    from eventlab import deployments

    record = deployments.load(args.pattern)
    if record is None:
        print(f"{args.pattern} is not deployed", file=sys.stderr)
        return 1
    target = Target.from_description(record.target, announce=True, endpoint_url=os.environ.get("EVENTLAB_ENDPOINT_URL"))
    deleted, failed = deployments.destroy(args.pattern, target)
    for leak in deleted:
        print(f"deleted {leak}")
    for leak, why in failed:
        print(f"FAILED  {leak}: {why}", file=sys.stderr)
    return 1 if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    """Check a topology offline as AWS would take it: exit 0 when AWS would accept it and
    deliver through it, 1 otherwise, with one line per problem (and per warning)."""
    from eventlab.locations import topology_file
    from eventlab.topology.model import Topology, TopologyError
    from eventlab.topology.validate import check

    path = Path(args.topology)
    if not path.exists() and not path.suffix:
        path = topology_file(args.topology)  # a shipped topology by name: ecommerce, fanout, ...
    if not path.is_file():
        raise TopologyError([f"{args.topology}: no such topology file"])
    variables: dict[str, str] = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TopologyError([f"--var {item!r}: write NAME=VALUE"])
        variables[name] = value
    try:
        report = check(Topology.from_yaml(path, variables))
    except TopologyError as error:
        problems, warnings = error.problems, []
    else:
        problems, warnings = report.problems, report.warnings
    for warning in warnings:
        print(f"{path.name}: warning: {warning}")
    for problem in problems:
        print(f"{path.name}: {problem}")
    print(f"{path.name}: {'AWS would accept it' if not problems else f'{len(problems)} problem(s)'}", file=sys.stderr)
    return 1 if problems else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run workloads through the benchmark notebook, repeatedly; compare with the baselines.

    Exit 1 when a figure regressed beyond the noise (or a run failed); with --update-baseline,
    write the baselines instead of comparing.
    """
    from eventlab import bench
    from eventlab.measure import distributed

    paths = [bench.find_workload(w) for w in args.workloads] or bench.workload_set(args.set)
    workloads = [bench.load_workload(path) for path in paths]  # every workload checked before the emulator starts
    if args.cluster and args.workers:
        raise distributed.ClusterError("--cluster and --workers: choose one (--workers starts a local cluster)")
    target = "aws" if args.target == "aws" else _backend(args)
    overrides: dict[str, object] = {}
    if args.cluster:
        overrides["cluster"] = args.cluster
    if args.workers:
        overrides["workers"] = args.workers
        overrides["cluster"] = ""
    schedulers = {distributed.scheduler_address(args.cluster or w.cluster) for w in workloads} if not args.workers else set()
    for address in sorted(a for a in schedulers if a):  # a scheduler that does not answer: before anything is created
        distributed.check_scheduler(address)
    session = bench.new_session()
    output = build_dir() / "bench" / session
    if target == "aws":
        overrides |= {"aws_profile": args.profile or "", "aws_region": args.region or ""}
    with contextlib.ExitStack() as stack:
        if target != "aws" and not (os.environ.get("EVENTLAB_ENDPOINT_URL") and backend_name(None) == target):
            runtime = stack.enter_context(_runtime(args))
            os.environ.update(_use(runtime))
        stack.callback(_reap, allow_aws=target == "aws")
        regressions = bench.run_set(
            paths, repeats=args.repeats, session=session, output_dir=output, target=target, overrides=overrides,
            threshold=args.threshold, update_baseline=args.update_baseline, report=args.report, say=print,
        )
    print(f"{regressions} regression(s) beyond the noise" if not args.update_baseline else "baselines updated")
    return 1 if regressions else 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (the problem and where to read more) and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"eventlab: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT)


def _backend_name(text: str) -> str:
    """``--backend``: the registry's check, its message shown by argparse."""
    try:
        return backend_name(text)
    except LocalStackError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(text: str) -> int:
    """``--port``: the runtime's one port parser (EVENTLAB_PORT's too), its message shown by argparse."""
    try:
        return parse_port(text, "--port")
    except LocalStackError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _number(kind: type[int] | type[float], low: float, *, above: bool = False) -> Callable[[str], object]:
    """An argparse type for a number of at least (or ``above``) ``low``."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an int' if kind is int else 'a number'}") from None
        if value < low or (above and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be {'above' if above else 'at least'} {low:g}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventlab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_backend(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--backend", type=_backend_name, default=None,
                       help=f"the emulator: one of {', '.join(EMULATORS)} (default: {BACKEND_ENV}, else localstack)")
        return p

    def with_runtime_options(p: argparse.ArgumentParser, port: bool = True) -> argparse.ArgumentParser:
        with_backend(p)
        if port:
            p.add_argument("--port", type=_port, default=None, help="port on 127.0.0.1, 1 to 65535 (default: EVENTLAB_PORT, else a free port)")
        p.add_argument("--timeout", type=_number(float, 0, above=True), default=DEFAULT_START_TIMEOUT, help="seconds to wait for the emulator to become healthy")
        return p

    with_runtime_options(sub.add_parser("up", help=cmd_up.__doc__)).set_defaults(func=cmd_up)
    status = with_backend(sub.add_parser("status", help=cmd_status.__doc__))
    status.add_argument("--json", action="store_true", help="print backend, version, endpoint_url and endpoints as one JSON object")
    status.set_defaults(func=cmd_status)
    with_backend(sub.add_parser("down", help=cmd_down.__doc__)).set_defaults(func=cmd_down)

    run = with_runtime_options(sub.add_parser("run", help=cmd_run.__doc__))
    run.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebooks/NN-*.ipynb)")
    run.add_argument("-o", "--output", help="output folder (default: build/workbook)")
    run.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help="override a notebook parameter")
    run.set_defaults(func=cmd_run)

    lab = with_runtime_options(sub.add_parser("lab", help=cmd_lab.__doc__))
    lab.set_defaults(func=cmd_lab, jupyter_args=[])

    leaks = with_backend(sub.add_parser("leaks", help=cmd_leaks.__doc__))
    leaks.add_argument("prefix", help="a run or deployment prefix, e.g. el-ab12cd34")
    leaks.add_argument("--delete", action="store_true", help="delete what is found")
    leaks.set_defaults(func=cmd_leaks)

    from eventlab.patterns.registry import PATTERNS

    deploy = with_backend(sub.add_parser("deploy", help=cmd_deploy.__doc__))
    deploy.add_argument("pattern", choices=sorted(PATTERNS), help="; ".join(f"{p.name}: {p.summary}" for p in PATTERNS.values()))
    for name in dict.fromkeys(name for p in PATTERNS.values() for name in p.options):  # each option once
        helps = {f"{p.option_help(name)} ({p.name})" for p in PATTERNS.values() if name in p.options}
        deploy.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, help="; ".join(sorted(helps)))
    deploy.add_argument("--aws", action="store_true", help="deploy to real AWS (needs --profile and/or --region)")
    deploy.add_argument("--profile", help="AWS profile, with --aws")
    deploy.add_argument("--region", help="AWS region, with --aws")
    deploy.add_argument("--timeout", type=_number(float, 0, above=True), default=DEFAULT_START_TIMEOUT, help="seconds to wait for the emulator")
    deploy.set_defaults(func=cmd_deploy)

    destroy = sub.add_parser("destroy", help=cmd_destroy.__doc__)
    destroy.add_argument("pattern", choices=sorted(PATTERNS))
    destroy.set_defaults(func=cmd_destroy)

    check_cmd = sub.add_parser("check", help=cmd_check.__doc__)
    check_cmd.add_argument("topology", help="a topology YAML file, or the name of a shipped one (data/topologies)")
    check_cmd.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set a variable the file declares (repeatable)")
    check_cmd.set_defaults(func=cmd_check)

    bench_cmd = with_runtime_options(sub.add_parser("bench", help="run benchmark workloads and compare them with the baselines"))
    bench_cmd.add_argument("workloads", nargs="*", help="workload names or files (default: the --set)")
    bench_cmd.add_argument("--set", default="full", help="a set from benchmarks/sets.yaml (smoke, full)")
    bench_cmd.add_argument("--repeats", type=_number(int, 1), default=3, help="runs per workload; the compare needs at least 2")
    bench_cmd.add_argument("--target", choices=("emulator", "aws"), default="emulator", help="the --backend's emulator (default) or AWS")
    bench_cmd.add_argument("--profile", help="AWS profile, with --target aws")
    bench_cmd.add_argument("--region", help="AWS region, with --target aws")
    bench_cmd.add_argument("--threshold", type=_number(float, 0), default=0.25, help="relative change that counts as news (0.25 = 25%%)")
    bench_cmd.add_argument("--cluster", help="a running Dask cluster's scheduler (tcp://host:8786): its workers produce the load")
    bench_cmd.add_argument("--workers", type=_number(int, 1), help="produce the load from a local Dask cluster of N worker processes")
    bench_cmd.add_argument("--update-baseline", action="store_true", help="write data/baselines instead of comparing")
    bench_cmd.add_argument("--no-report", dest="report", action="store_false", help="skip the report notebook")
    bench_cmd.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra  # `eventlab lab --no-browser ...`: the rest goes to jupyter lab
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        # SIGTERM (CI timeouts) and SIGHUP (a closed terminal) unwind like Ctrl-C: every run
        # and every emulator this command started is cleaned up before it exits.
        with interrupts.raise_on_termination():
            return int(args.func(args))
    except user_errors() as error:
        # The user's to fix: the message says how. Genuine bugs keep their traceback.
        if args.verbose:
            traceback.print_exc()
        print(f"eventlab: {error}", file=sys.stderr)
        return USER_ERROR_EXIT
    except interrupts.Terminated as stop:
        with contextlib.suppress(OSError):
            print(f"eventlab: {stop}; cleaned up and stopped", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            print("eventlab: interrupted; cleaned up and stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
