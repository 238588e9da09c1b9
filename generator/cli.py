"""The `deploygen` command: a thin layer of options over the modules that do the work."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click

from . import __version__, frameworks, spec as specs, targets
from .errors import EXIT_INTERNAL, EXIT_LINT_FAILED, ConflictError, DeployGenError, PathError, SpecError
from .names import aws_names

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 bad command-line usage; "
    "3 the model file is missing, unreadable or not recognised; "
    "4 invalid spec or option, or the model does not fit the target; "
    "5 the output exists (use --force) or cannot be written; 6 the project cannot be served or measured here "
    "(install its requirements, or choose another --port); 7 re-rendering would overwrite your edits of generated "
    "files (nothing written; --force merges them); 70 internal error."
)


class DeployGenGroup(click.Group):
    """Turns every error a user can fix into one line and its exit code; never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeployGenError as err:
            click.echo(f"deploygen: error: {err}", err=True)
            sys.exit(err.exit_code)
        except click.UsageError as err:
            if ctx.invoked_subcommand == "lint":  # lint's codes are cfn-lint's: 2 means errors found
                err.show()
                sys.exit(EXIT_LINT_FAILED)
            raise
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:  # a bug: say so in one line; the traceback on request
            if os.environ.get("DEPLOYGEN_DEBUG"):
                raise
            click.echo(
                f"deploygen: internal error: {type(err).__name__}: {err} "
                "(set DEPLOYGEN_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)


@click.group(cls=DeployGenGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="deploygen")
def main() -> None:
    """Render a ready-to-deploy AWS project from a trained model file."""


# Target options: (flag, click type, help). Which target (and SageMaker mode) reads each is
# decided by spec.options_from_flags, so a flag that does not apply is refused, never ignored.
TARGET_OPTIONS = [
    ("--memory", int, "Memory in MB. Lambda: 128-10240 (default 1024). SageMaker serverless: 1024-6144 in 1024 "
                      "steps. ECS: a Fargate value for --cpu (default 2048)."),
    ("--timeout", int, "Lambda timeout in seconds, 1-900 (default 30; at most 30 with --front http-api)."),
    ("--arch", click.Choice(["x86_64", "arm64"]), "CPU architecture (arm64: Graviton; SageMaker needs a ml.*g.* type)."),
    ("--auth", click.Choice(["iam", "none"]), "Lambda: who may call, iam (default, SigV4) or none (public)."),
    ("--front", click.Choice(["url", "http-api"]), "Lambda front door: a Function URL (default) or an HTTP API."),
    ("--ephemeral-storage", int, "Lambda /tmp size in MB, 512-10240."),
    ("--reserved-concurrency", int, "Lambda: reserve (and cap) this many concurrent executions."),
    ("--provisioned-concurrency", str,
     "Lambda: MIN:MAX warm environments, autoscaled. SageMaker serverless: N warm, at most --max-concurrency."),
    ("--mode", click.Choice(["realtime", "serverless", "async"]), "SageMaker endpoint mode (default realtime)."),
    ("--instance-type", str, "SageMaker instance type, e.g. ml.m5.large (default) or ml.c7g.large."),
    ("--instances", int, "SageMaker initial instance count (default 1)."),
    ("--min-instances", int, "SageMaker autoscaling minimum (default 1; async 0, which scales to zero)."),
    ("--max-instances", int, "SageMaker autoscaling maximum (default 2)."),
    ("--max-rps", float, "Requests per second one instance sustains (from a load test); sets the scaling target."),
    ("--max-concurrency", int, "SageMaker serverless maximum concurrency, 1-200 (default 5)."),
    ("--output-path", str, "SageMaker async: where results go, s3://bucket/prefix (required for async)."),
    ("--sns-topics", str, "SageMaker async: SUCCESS_TOPIC_ARN[,ERROR_TOPIC_ARN] to notify."),
    ("--cpu", int, "ECS: Fargate CPU units, 256-16384 (default 1024); --memory must be a valid pair with it."),
    ("--min-tasks", int, "ECS: autoscaling minimum task count (default 1)."),
    ("--max-tasks", int, "ECS: autoscaling maximum task count (default 4)."),
    ("--cpu-target", int, "ECS: target average CPU percent for scaling (default 60)."),
    ("--requests-per-target", int, "ECS: target requests per task per minute for scaling (default 1000)."),
    ("--certificate-arn", str, "ECS: an ACM certificate ARN: HTTPS on 443, HTTP redirected to it."),
    ("--internal", "flag", "ECS: a load balancer reachable only from inside the VPC."),
    ("--create-vpc", "flag", "ECS: render a small VPC of its own (two public subnets, no NAT)."),
    ("--gpu", "flag", "The model needs a GPU: SageMaker then needs a GPU instance type; Lambda and ECS refuse."),
]


def _param(flag: str) -> str:
    return "opt_" + flag.lstrip("-").replace("-", "_")


def target_options(command):
    for flag, kind, help_text in reversed(TARGET_OPTIONS):
        if kind == "flag":  # absent means "not given", so a spec from --config is not overridden
            command = click.option(flag, _param(flag), is_flag=True, default=None, help=help_text)(command)
        else:
            command = click.option(flag, _param(flag), type=kind, help=help_text)(command)
    return command


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(specs.TARGETS), help="Where the model will run.")
@click.option("--name", help="Project name; AWS names are derived from it. Default: the model file's name.")
@click.option("--output", type=click.Path(path_type=Path), help="Project folder to create. Default: ./NAME.")
@click.option("--framework", type=click.Choice(frameworks.FRAMEWORK_CHOICES), default=None,
              help="Model framework; auto (default) detects it from the file's bytes.")
@click.option("--features", type=click.IntRange(1, 1_000_000), default=None,
              help="Input features per row, for a model whose file does not record it (TorchScript, custom): "
                   "sizes the sample request.")
@click.option("--config", type=click.Path(path_type=Path),
              help="Start from this deploygen.yaml; options given here override it.")
@click.option("--region", help="AWS region. Default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1.")
@click.option("--force", is_flag=True,
              help="Update an existing folder: replaces only files deploygen wrote and nobody edited; "
                   "keeps the rest (edited files are saved as NAME.orig).")
@target_options
def init(model: Path, target, name, output, framework, features, config, region, force,
         **option_values) -> None:
    """Scaffold a project that deploys MODEL on a target."""
    from . import render

    base = _base_spec(config)
    target = target or base.get("target")
    if target not in specs.TARGETS:
        raise click.UsageError(f"--target is required: one of {', '.join(specs.TARGETS)}")
    framework = framework or (base.get("model") or {}).get("framework") or "auto"
    info = frameworks.detect(model, framework, features)
    given = {flag: value for flag, _, _ in TARGET_OPTIONS
             if (value := option_values[_param(flag)]) is not None and value is not False}
    spec = specs.from_dict(
        {
            **base,
            "name": name or base.get("name") or model.stem,
            "target": target,
            "region": region or base.get("region") or _default_region(),
            "model": specs.model_section(model, info),
            target: specs.options_from_flags(target, given, base.get(target)),
        },
        source=None,
    )
    targets.check_fit(spec, info.size_bytes)
    dest = output or Path(aws_names(spec.name).slug)
    report = render.render_project(spec, model, info, dest, force=force)
    _print_report(report, spec, info)


def _base_spec(config: Path | None) -> dict:
    if config is None:
        return {}
    data = specs.read_yaml(config)
    if not isinstance(data, dict):
        raise SpecError(f"{config} is not a deploygen.yaml mapping; give a spec written by deploygen init")
    data.pop("model", None)  # the model comes from the MODEL argument, not the old project
    return data


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _print_report(report, spec, info) -> None:
    click.echo(f"Rendered {spec.target} project in {report.project}")
    click.echo(f"  model: {info.framework} {info.framework_version or ''} ({info.estimator or 'custom'})".rstrip())
    if info.version_source == "tested":
        click.echo(f"  pinned {info.requirements[0]}: the model file records no release "
                   f"({info.artifact_version or 'nothing'}), so deploygen pins the one its tests prove")
    if report.changed or report.removed or report.kept or report.conflicts:  # an update (--force)
        for line in report.lines():
            click.echo(line)
    if spec.target == "lambda" and spec.options.auth == "none":
        click.echo("  warning: --auth none makes the endpoint public: anyone with the URL can call it, at your cost")
    if info.framework == "custom":
        click.echo("  next: complete load() and predict() in src/inference.py")
    elif info.n_features is None and info.sample_row is None:
        click.echo("  note: the model file does not record its input size; the sample request has one feature: "
                   "give --features N")
    click.echo(f"  next: cd {report.project} && pip install -r requirements-dev.txt && pytest")


def rerender_options(command):
    command = click.option("--force", is_flag=True, help="Go on over your edits of generated files: merge them, "
                                                         "or keep yours as NAME.orig where no merge is possible.")(command)
    return click.option("--dry-run", is_flag=True,
                        help="Print the plan (added, changed, removed, kept, conflicts); write nothing.")(command)


def _project_model(project: Path, current: specs.ProjectSpec) -> tuple[frameworks.ModelInfo, dict]:
    """The project's model detected again (it may have been replaced), and its spec section."""
    info = frameworks.detect_recorded(project / current.model.path, current.model.framework, current.model.n_features)
    info = dataclasses.replace(info, file_name=Path(current.model.path).name)  # where it is, as the spec says
    return info, specs.model_section(Path(current.model.path), info, current.model.original_name)


def _open_project(project: Path) -> tuple[Path, specs.ProjectSpec, dict]:
    from . import rerender

    project = project.absolute()
    if not project.is_dir():
        raise PathError(f"{project} is not a folder: give a project rendered by deploygen init")
    current, raw = specs.load_with_text(project)  # raw: the spec as written, for render to keep
    rerender.check_project(project)
    return project, current, raw


def _rerender(project: Path, spec: specs.ProjectSpec, info, dry_run: bool, force: bool, spec_bytes,
              done: str, copies=None) -> None:
    from . import render, rerender

    with render._staging(project.parent) as stage:
        plan = rerender.rerender(project, spec, info, Path(stage), render.render_tree, force=force,
                                 dry_run=dry_run, spec_bytes=spec_bytes, copies=copies)
    click.echo(f"Plan for {project} (--dry-run: nothing written):" if dry_run else f"{done} {project}")
    for line in plan.lines() if plan.writes else ["  nothing to do: every file is as deploygen would write it"]:
        click.echo(line)
    if dry_run and plan.conflicts and not force:
        click.echo(f"deploygen: error: {len(plan.conflicts)} conflict(s): without --force nothing would be "
                   "written", err=True)
        sys.exit(ConflictError.exit_code)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("project", type=click.Path(path_type=Path), default=".")
@rerender_options
def render(project: Path, dry_run: bool, force: bool) -> None:
    """Re-render PROJECT's generated files from its deploygen.yaml as it now stands."""
    project, current, raw = _open_project(project)
    info, model = _project_model(project, current)
    spec = specs.from_dict({**raw, "model": model, "deploygen_version": __version__})
    targets.check_fit(spec, info.size_bytes)
    same = raw.get("model") == model and raw.get("deploygen_version") == __version__
    spec_bytes = (project / specs.SPEC_FILE).read_bytes() if same else None  # keep the user's comments
    _rerender(project, spec, info, dry_run, force, spec_bytes, "Re-rendered")


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--to", "to", type=click.Choice(specs.TARGETS), required=True, help="The target to move to.")
@click.argument("project", type=click.Path(path_type=Path), default=".")
@rerender_options
@target_options
def switch(to: str, project: Path, dry_run: bool, force: bool, **option_values) -> None:
    """Move PROJECT's model to another target, keeping your code, tests and files."""
    project, current, raw = _open_project(project)
    info, model = _project_model(project, current)
    given = {flag: value for flag, _, _ in TARGET_OPTIONS
             if (value := option_values[_param(flag)]) is not None and value is not False}
    data = {**current.to_dict(), "model": model, "target": to, "deploygen_version": __version__}
    data[to] = specs.options_from_flags(to, given, data.get(to))  # options kept from an earlier stay there
    spec = specs.from_dict(data, source=None)
    targets.check_fit(spec, info.size_bytes)
    for warning in targets.switch_warnings(current, spec):
        click.echo(f"  warning: {warning}")
    moved = to != current.target
    _rerender(project, spec, info, dry_run, force, None,
              f"Switched from {current.target} to {to}:" if moved else "Re-rendered",
              _old_destroy_script(project, current.target) if moved else None)
    if not dry_run and moved:
        click.echo(f"  next: scripts/deploy.sh deploys the {to} stack beside the {current.target} one; point "
                   f"clients at its URL, then remove the old stack with scripts/destroy-{current.target}.sh")


def _old_destroy_script(project: Path, old_target: str) -> dict:
    """The old target's destroy script, kept as the user's scripts/destroy-<target>.sh: it removes the old
    stack once clients have moved (the new target's destroy.sh removes only the new one)."""
    script = project / "scripts" / "destroy.sh"
    if not script.is_file():
        return {}
    lines = script.read_bytes().split(b"\n")
    note = (f"# Kept by deploygen switch when this project left {old_target}: it removes the old {old_target} "
            "stack. Yours: run it once clients have moved, then delete it.").encode()
    lines.insert(1 if lines[0].startswith(b"#!") else 0, note)
    return {f"scripts/destroy-{old_target}.sh": (b"\n".join(lines), script.stat().st_mode & 0o777)}


LINT_EXIT_CODES_HELP = (
    "Exit codes of lint, as cfn-lint's: 0 clean; otherwise the sum of 2 (errors), 4 (warnings) and "
    "8 (informational) for the unsuppressed findings at or above --fail-on; 32 lint could not run "
    "(a path that does not exist, a bad option or suppressions file)."
)


@main.command(epilog=LINT_EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif", "junit"]), default="text",
              show_default=True, help="sarif: SARIF 2.1.0 for GitHub code scanning; junit: JUnit XML for CI.")
@click.option("--output", type=click.Path(path_type=Path), help="Write the report to this file (default: stdout).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "informational"]), default="warning",
              show_default=True, help="The lowest level that makes the exit code non-zero.")
@click.option("--suppressions", type=click.Path(path_type=Path),
              help="A suppressions file (default: .deploygen-lint.yaml in each folder linted).")
@click.option("--rules-path", is_flag=True,
              help="Print the folder of deploygen's cfn-lint rules (for cfn-lint --append-rules) and exit.")
def lint(paths, output_format, output, fail_on, suppressions, rules_path) -> None:
    """Lint projects, CloudFormation templates, Dockerfiles and specs (default: the current folder)."""
    from . import dockerlint, lint as linting, lint_output

    if rules_path:
        click.echo(str(linting.RULES_PATH))
        return
    if suppressions is not None and not suppressions.is_file():
        raise linting.LintUsageError(f"{suppressions} does not exist: give a suppressions file")
    targets_ = list(paths) or [Path(".")]
    findings = linting.lint_paths(targets_, suppressions)
    report = lint_output.render(findings, output_format, __version__)
    if output is None:
        click.echo(report, nl=False)
    else:  # a report for machines in the file, and the findings for the person reading the CI log
        output.write_text(report, encoding="utf-8")
        click.echo(lint_output.render(findings, "text", __version__), nl=False)
    if dockerlint.hadolint_binary() is None and any(  # walks the folders again only when hadolint is missing
            dockerlint.looks_like_dockerfile(p) or (p.is_dir() and linting.find_dockerfiles(p)) for p in targets_):
        click.echo("deploygen lint: note: hadolint is not installed, so Dockerfiles got only the contract checks; "
                   "pip install 'deploygen[hadolint]' adds its rules", err=True)
    sys.exit(linting.exit_code(findings, fail_on))


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("subject", metavar="MODEL|PROJECT", type=click.Path(path_type=Path), default=".")
@click.option("--requests-per-month", type=float, help="Requests a month (default: deploygen.yaml's, else 1,000,000).")
@click.option("--peak-rps", type=float, help="Busiest requests per second (default: 3x the average, at least 1).")
@click.option("--payload-kb", type=float, help="Request body size in KB (default: the sample request's).")
@click.option("--duration-ms", type=float, help="Time per request in ms, on one vCPU (default: measured).")
@click.option("--memory-mb", type=float, help="Memory the model's process needs in MB (default: measured, +20%).")
@click.option("--features", type=click.IntRange(1, 1_000_000), default=None,
              help="Input features per row, for a model file that does not record it (as for init).")
@click.option("--region", help="Prices of this region (default: the project's, else us-east-1).")
@click.option("--pricing", "pricing_file", type=click.Path(path_type=Path),
              help="Unit prices from this YAML file instead of deploygen's (generator/data/prices.yaml).")
@click.option("--free-tier", is_flag=True, help="Take Lambda's monthly free tier off (1M requests, 400,000 GB-s).")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "markdown"]), default="table",
              show_default=True)
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False),
              help="Also draw cost against volume for every option that fits, as a PNG (needs deploygen[plot]).")
def compare(subject: Path, requests_per_month, peak_rps, payload_kb, duration_ms, memory_mb, features, region,
            pricing_file, free_tier, output_format, plot) -> None:
    """Which target fits MODEL (or PROJECT) and its traffic, and what each option costs a month.

    Unless --duration-ms and --memory-mb are given, the model is loaded and timed in a separate
    process. The output says which figures were measured, given or assumed.
    """
    from . import compare as comparing

    if plot is not None:
        comparing.check_plot(plot)
    given = {"requests_per_month": requests_per_month, "peak_rps": peak_rps, "payload_kb": payload_kb,
             "duration_ms": duration_ms, "memory_mb": memory_mb}
    result = comparing.compare(subject, given, region, pricing_file, free_tier, features=features)
    render = {"table": comparing.text, "json": comparing.as_json, "markdown": comparing.markdown}[output_format]
    click.echo(render(result), nl=False)
    if plot is not None:
        comparing.plot(result, plot)
        click.echo(f"plot written to {plot}", err=True)


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("project", type=click.Path(path_type=Path), default=".")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def serve(project: Path, port: int) -> None:
    """Serve PROJECT on 127.0.0.1 as its target would, for curl and local tests."""
    from . import serve as serving

    serving.serve(project, port)


if __name__ == "__main__":
    main()
