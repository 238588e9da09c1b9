"""`deploygen switch` and `deploygen render`: another target, or a changed spec, without losing a user byte."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_project_tests, tree_snapshot
from generator import frameworks, rerender, spec as specs
from generator.manifest import MANIFEST_PATH
from generator.render import render_project
from model_zoo import close, dumps
from served import deploygen_serve, request

EXIT_SPEC, EXIT_CONFLICT = 4, 7
TARGETS = ("lambda", "sagemaker", "ecs")


def generated(project: Path) -> dict[str, bytes]:
    """The generator-owned files (the manifest's), model aside, and their bytes."""
    manifest = json.loads((project / MANIFEST_PATH).read_text())
    return {rel: (project / rel).read_bytes() for rel in manifest["files"] if not rel.startswith("model/")}


def fresh_render(project: Path, into: Path) -> Path:
    """What `deploygen init` renders for the project's spec as it now stands."""
    spec = specs.load(project)
    model = project / spec.model.path
    info = frameworks.detect(model, spec.model.framework, spec.model.n_features)
    return render_project(spec, model, info, into / "fresh").project


@pytest.fixture
def project(cli, zoo, tmp_path) -> Path:
    path = tmp_path / "proj"
    result = cli("init", zoo("xgboost").path, "--target", "lambda", "--output", path)
    assert result.exit_code == 0, result.output
    return path


def user_edits(project: Path) -> dict[str, bytes]:
    """Edits a user makes: the predict code, their tests, files of their own."""
    (project / "src" / "inference.py").write_text((project / "src" / "inference.py").read_text()
                                                  + "\n\nEXTRA = 'my own line'\n")
    (project / "tests" / "test_inference.py").write_text((project / "tests" / "test_inference.py").read_text()
                                                         + "\n\ndef test_mine():\n    assert True\n")
    (project / "NOTES.md").write_text("notes of mine\n")
    (project / "data").mkdir()
    (project / "data" / "rows.csv").write_text("5.1,3.5,1.4,0.2\n")
    return {rel: (project / rel).read_bytes()
            for rel in ("src/inference.py", "tests/test_inference.py", "NOTES.md", "data/rows.csv")}


@pytest.mark.slow
def test_round_trip_lambda_sagemaker_ecs_lambda(cli, zoo, project, tmp_path):
    mine = user_edits(project)
    model = zoo("xgboost")
    for step, target in enumerate(["sagemaker", "ecs", "lambda"]):
        result = cli("switch", "--to", target, project)
        assert result.exit_code == 0, result.output
        assert specs.load(project).target == target
        fresh = fresh_render(project, tmp_path / f"step{step}")
        assert generated(project) == generated(fresh)  # byte for byte what init renders for this spec
        assert set(generated(project)) == {rel for rel in tree_snapshot(fresh) if not rel.startswith("model/")
                                           and rel not in ("deploygen.yaml", MANIFEST_PATH)
                                           and rel not in rerender.USER_OWNED}
        for rel, data in mine.items():
            assert (project / rel).read_bytes() == data, rel
        assert cli("lint", project).exit_code == 0
        tests = run_project_tests(project)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        with deploygen_serve(project, target) as url:  # the same predictions on every target
            status, _, body = request(url, dumps(model.rows))
            assert status == 200 and close(json.loads(body)["predictions"], model.labels), body
    # no leftovers of the targets passed through: only the old destroy scripts, kept as the user's
    assert sorted(p.name for p in (project / "scripts").iterdir()) == [
        "deploy.sh", "destroy-ecs.sh", "destroy-lambda.sh", "destroy-sagemaker.sh", "destroy.sh"]
    assert not list(project.rglob("*.orig"))


def test_options_of_a_target_come_back_when_the_project_returns(cli, project):
    assert cli("switch", "--to", "sagemaker", project, "--mode", "serverless", "--memory", "3072").exit_code == 0
    assert cli("switch", "--to", "lambda", project, "--memory", "2048").exit_code == 0
    assert cli("switch", "--to", "sagemaker", project).exit_code == 0
    spec = specs.load(project)
    assert (spec.options.mode, spec.options.memory_mb) == ("serverless", 3072)
    assert spec.other_targets["lambda"]["memory_mb"] == 2048


def test_the_old_destroy_script_is_kept_runnable_as_the_users(cli, project):
    old = (project / "scripts" / "destroy.sh").read_bytes()
    assert cli("switch", "--to", "ecs", project).exit_code == 0
    kept = project / "scripts" / "destroy-lambda.sh"
    assert os.access(kept, os.X_OK)
    assert kept.read_bytes().replace(kept.read_bytes().split(b"\n")[1] + b"\n", b"", 1) == old
    manifest = json.loads((project / MANIFEST_PATH).read_text())
    assert "scripts/destroy-lambda.sh" not in manifest["files"]  # the user's now: never touched again
    stack_lines = [line for line in kept.read_text().splitlines() if "STACK_NAME=" in line]
    assert stack_lines and "-lambda" in stack_lines[0]


def test_an_edited_generated_file_stops_everything_and_is_listed(cli, project, tmp_path):
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# my tweak\n")
    message = cli.refused(project, EXIT_CONFLICT, "switch", "--to", "sagemaker", project)
    assert "Dockerfile" in message and "--force" in message and "nothing was written" in message


def test_dry_run_prints_the_plan_and_writes_nothing(cli, project):
    (project / "Dockerfile").write_text("# mine entirely\n")
    before = tree_snapshot(project)
    result = cli("switch", "--to", "sagemaker", project, "--dry-run")
    assert result.exit_code == EXIT_CONFLICT  # what the real run would do without --force
    assert tree_snapshot(project) == before
    for line in ("add src/serving/server.py", "remove src/serving/lambda_handler.py", "change infra/template.yaml",
                 "keep src/inference.py", "conflict Dockerfile"):
        assert line in result.output
    clean = cli("switch", "--to", "sagemaker", project, "--dry-run", "--force")
    assert clean.exit_code == 0 and tree_snapshot(project) == before


def test_force_merges_where_it_can_and_keeps_an_orig_where_it_cannot(cli, project):
    template = project / "infra" / "template.yaml"
    template.write_text(template.read_text() + "# a note of mine\n")
    handler = project / "src" / "serving" / "lambda_handler.py"
    handler.write_text(handler.read_text() + "# patched\n")  # ECS has no handler: kept as .orig
    result = cli("switch", "--to", "ecs", project, "--force")
    assert result.exit_code == 0, result.output
    # Lambda's and ECS's stacks share almost no lines: the merge marks where the user's line meets them
    merged = template.read_text()
    assert "# a note of mine" in merged and "AWS::ECS::Service" in merged
    assert "<<<<<<< yours" in merged and ">>>>>>> deploygen now" in merged
    assert "infra/template.yaml" in result.output and "conflict markers" in result.output
    assert not handler.exists()
    assert (project / "src" / "serving" / "lambda_handler.py.orig").read_text().endswith("# patched\n")
    assert "lambda_handler.py.orig" in result.output


def test_render_merges_an_edited_file_cleanly_when_the_changes_do_not_touch(cli, project):
    template = project / "infra" / "template.yaml"
    template.write_text(template.read_text() + "# a note of mine\n")
    spec_file = project / "deploygen.yaml"
    spec_file.write_text(spec_file.read_text().replace("memory_mb: 1024", "memory_mb: 2048"))
    before = tree_snapshot(project)
    message = cli.refused(project, EXIT_CONFLICT, "render", project)
    assert "infra/template.yaml" in message and tree_snapshot(project) == before
    result = cli("render", project, "--force")
    assert result.exit_code == 0, result.output
    merged = template.read_text()
    assert "MemorySize: 2048" in merged and merged.endswith("# a note of mine\n") and "<<<<<<<" not in merged
    assert "merged your edits into the new version" in result.output
    assert cli("lint", project).exit_code == 0


def test_render_follows_an_edited_spec_and_keeps_its_comments(cli, project):
    spec_file = project / "deploygen.yaml"
    text = spec_file.read_text().replace("memory_mb: 1024", "memory_mb: 3008") + "# my comment\n"
    spec_file.write_text(text)
    result = cli("render", project)
    assert result.exit_code == 0, result.output
    assert "MemorySize: 3008" in (project / "infra" / "template.yaml").read_text()
    assert spec_file.read_text() == text
    again = cli("render", project)
    assert "nothing to do" in again.output


def test_render_takes_a_replaced_model_file(cli, zoo, project):
    shutil.copyfile(zoo("xgboost-binary").path, project / "model" / "model.json")
    result = cli("render", project)
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load((project / "deploygen.yaml").read_text())
    assert spec["model"]["sha256"] == frameworks.file_sha256(project / "model" / "model.json")
    assert cli("lint", project).exit_code == 0  # DG002 satisfied again


def test_a_model_too_large_for_lambda_is_refused_with_the_numbers(cli, tmp_path):
    model = tmp_path / "big.bin"
    with open(model, "wb") as out:
        out.truncate(300 * 1024**2)  # sparse: 300 MB without the disk
    project = tmp_path / "p"
    assert cli("init", model, "--framework", "custom", "--target", "sagemaker", "--output", project).exit_code == 0
    message = cli.refused(project, EXIT_SPEC, "switch", "--to", "lambda", "--memory", "256", project)
    assert "300 MB" in message and "256 MB" in message


def test_switch_warns_when_the_new_target_takes_smaller_requests(cli, tmp_path, project):
    assert cli("switch", "--to", "sagemaker", project, "--mode", "async", "--output-path", "s3://my-bucket/p").exit_code == 0
    result = cli("switch", "--to", "lambda", project)
    assert result.exit_code == 0
    assert "warning: lambda accepts request bodies up to 6 MB" in result.output


def test_a_folder_without_a_manifest_is_refused(cli, project):
    (project / MANIFEST_PATH).unlink()
    message = cli.refused(project, 5, "switch", "--to", "ecs", project)
    assert "manifest" in message and "init --force" in message


def _edited_for_failure(project: Path) -> None:
    """Edits that make the switch do every kind of write: add, change, remove, merge, .orig, copies."""
    (project / "infra" / "template.yaml").write_text((project / "infra" / "template.yaml").read_text() + "# x\n")
    (project / "src" / "serving" / "lambda_handler.py").write_text("# replaced\n")
    user_edits(project)


def _count_project_writes(project: Path, tmp_path: Path, monkeypatch) -> int:
    """How many os.replace calls a switch of a copy of project makes (so failures can be placed)."""
    copy = tmp_path / "count" / "proj"
    shutil.copytree(project, copy)
    calls = []
    real_replace = os.replace
    monkeypatch.setattr(rerender.os, "replace", lambda src, dst: (calls.append(dst), real_replace(src, dst)))
    rerender_project(copy, "sagemaker")
    monkeypatch.undo()
    return len(calls)


@pytest.mark.parametrize("position", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_a_failed_move_midway_leaves_the_project_byte_identical(project, tmp_path, monkeypatch, position):
    _edited_for_failure(project)
    total = _count_project_writes(project, tmp_path, monkeypatch)
    fail_at = max(1, round(position * total))
    before = tree_snapshot(project)
    calls = {"n": 0}
    real_replace = os.replace

    def failing_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(rerender.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        rerender_project(project, "sagemaker")
    assert tree_snapshot(project) == before
    assert not any(p.name.startswith(".deploygen-") for p in project.parent.iterdir())


@pytest.mark.parametrize("what", ["write_bytes", "copy2", "chmod"])
def test_a_failed_write_midway_leaves_the_project_byte_identical(project, monkeypatch, what):
    """The other writes: merged files and the manifest (write_bytes), .orig copies (copy2), kept scripts (chmod)."""
    _edited_for_failure(project)
    before = tree_snapshot(project)

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    if what == "write_bytes":
        real = Path.write_bytes
        monkeypatch.setattr(Path, "write_bytes", lambda self, data: fail() if project in self.parents
                            else real(self, data))
    elif what == "copy2":
        monkeypatch.setattr(rerender.shutil, "copy2", fail)
    else:
        monkeypatch.setattr(rerender.os, "chmod", fail)
    with pytest.raises(OSError, match="Input/output"):
        rerender_project(project, "sagemaker")
    assert tree_snapshot(project) == before


def rerender_project(project: Path, target: str, force: bool = True) -> rerender.Plan:
    """What `deploygen switch --to target --force` does, called directly so an injected error propagates."""
    from generator.cli import _project_model
    from generator.render import _staging, render_tree

    current = specs.load(project)
    info, model = _project_model(project, current)
    data = {**current.to_dict(), "model": model, "target": target}
    data[target] = specs.options_from_flags(target, {}, data.get(target))
    spec = specs.from_dict(data, source=None)
    with _staging(project.parent) as stage:
        return rerender.rerender(project, spec, info, Path(stage), render_tree, force=force)


# --- property: random user edits and random switches never lose a user byte ----------------------

EDIT_KINDS = ("append-user", "append-generated", "replace-generated", "new-file", "delete-generated")


@st.composite
def scenario(draw):
    edits = draw(st.lists(st.tuples(st.sampled_from(EDIT_KINDS), st.integers(0, 10_000)), max_size=5))
    moves = draw(st.lists(st.tuples(st.sampled_from(TARGETS), st.booleans()), min_size=1, max_size=3))
    return edits, moves


@pytest.fixture(scope="module")
def base_project(zoo, tmp_path_factory) -> Path:
    from click.testing import CliRunner

    from generator.cli import main

    path = tmp_path_factory.mktemp("base") / "proj"
    assert CliRunner().invoke(main, ["init", str(zoo("lightgbm").path), "--target", "lambda",
                                     "--output", str(path)]).exit_code == 0
    return path


def _apply_edit(project: Path, kind: str, seed: int, authored: dict[str, bytes]) -> None:
    manifest = json.loads((project / MANIFEST_PATH).read_text())
    owned = sorted(rel for rel in manifest["files"] if not rel.startswith("model/") and (project / rel).is_file())
    marker = f"# user edit {seed}\n".encode()
    if kind == "append-user":
        rel = rerender.USER_OWNED[seed % 2]
        (project / rel).write_bytes((project / rel).read_bytes() + marker)
        authored[rel] = (project / rel).read_bytes()
    elif kind == "new-file":
        rel = ["NOTES.md", "scripts/my_tool.sh", "src/helpers.py", f"data/{seed}.txt"][seed % 4]
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(marker)
        authored[rel] = marker
    elif owned:
        rel = owned[seed % len(owned)]
        if kind == "delete-generated":
            (project / rel).unlink()
            authored.pop(rel, None)
        else:
            old = (project / rel).read_bytes()
            (project / rel).write_bytes(old + marker if kind == "append-generated" else marker)
            authored[rel] = (project / rel).read_bytes()


def _user_bytes_survive(project: Path, authored: dict[str, bytes]) -> list[str]:
    """Each authored file is in place, or kept as .orig, or merged (its own lines all present)."""
    lost = []
    for rel, data in authored.items():
        path = project / rel
        candidates = [path] + sorted(path.parent.glob(path.name + ".orig*")) if path.parent.is_dir() else [path]
        texts = [c.read_bytes() for c in candidates if c.is_file()]
        if data in texts:
            continue
        mine = [line for line in data.splitlines() if line.startswith(b"# user edit")]
        if path.is_file() and mine and all(line in path.read_bytes() for line in mine):
            continue  # merged: every line the user wrote is in the file
        lost.append(rel)
    return lost


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario())
def test_random_edits_and_switches_never_lose_a_user_byte(cli, base_project, tmp_path_factory, case):
    edits, moves = case
    project = tmp_path_factory.mktemp("prop") / "proj"
    shutil.copytree(base_project, project, symlinks=True)
    authored: dict[str, bytes] = {}
    for kind, seed in edits:
        _apply_edit(project, kind, seed, authored)
    for target, force in moves:
        before = tree_snapshot(project)
        args = ["switch", "--to", target, str(project)] + (["--force"] if force else [])
        result = cli(*args)
        if result.exit_code == EXIT_CONFLICT:
            assert not force and tree_snapshot(project) == before  # stopped before writing anything
            conflicted = [rel for rel in authored if rel in result.output]
            assert conflicted, result.output  # every stop names the files in the way
            continue
        assert result.exit_code == 0, result.output
        assert _user_bytes_survive(project, authored) == []
        for rel in list(authored):  # what force merged or moved aside is reported, and tracked where it went
            path = project / rel
            if path.is_file() and path.read_bytes() == authored[rel]:
                continue
            assert rel in result.output, (rel, result.output)
            data = authored.pop(rel)
            backups = [p for p in sorted(path.parent.glob(path.name + ".orig*")) if p.read_bytes() == data]
            if backups:
                authored[backups[-1].relative_to(project).as_posix()] = data
            else:  # merged: the file now holds the user's lines and deploygen's
                authored[rel] = path.read_bytes()
