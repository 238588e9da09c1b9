"""Bring an existing project up to a new rendering without losing a byte of the user's work.

Used by `deploygen render` (after deploygen.yaml was edited, or deploygen upgraded), `deploygen
switch` (another target) and `deploygen init --force` (a new model or options over an old folder).

The new tree is rendered aside first and compared, file by file, with the project and its manifest
(the hash of every file as deploygen last wrote it):

- a generated file nobody edited is replaced, or removed when the new rendering has no such file;
- a user-owned file (the predict code, its tests) and any file the user added are kept as they are;
- a generated file the user edited is kept as it is when deploygen's version of it did not change;
  when it did, it is a conflict: nothing is written unless `force`, and then the user's version is
  three-way merged with the new one (`git merge-file`; the base is the old rendering, rebuilt and
  checked against the manifest's hashes) or, where no merge is possible, kept beside it as NAME.orig.

Applying is journalled: every file moved is moved back if anything fails, so a failed command
leaves the project exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import ConflictError, OutputError
from .frameworks import ModelInfo
from .manifest import MANIFEST_PATH, Manifest, read as read_manifest, sha256_file
from .spec import SPEC_FILE, ProjectSpec

MODEL_DIR = "model"
USER_OWNED = ("src/inference.py", "tests/test_inference.py")  # created once, never rewritten


@dataclass(frozen=True)
class Conflict:
    path: str
    why: str  # edited | removed-edited | in-the-way
    resolution: str = ""  # merged | merged-with-markers | orig (set when applied with force)
    backup: str = ""  # where the user's version went, for orig

    def describe(self) -> str:
        what = {"edited": "you edited it and deploygen's version changed",
                "removed-edited": "you edited it and the new target has no such file",
                "in-the-way": "your file is where deploygen now writes one"}[self.why]
        return f"{self.path} ({what})"


@dataclass
class Plan:
    project: Path
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # user-owned, or edited where deploygen's version is the same
    conflicts: list[Conflict] = field(default_factory=list)
    spec_changed: bool = False
    copies: list[str] = field(default_factory=list)  # files handed to the user (e.g. the old destroy script)

    @property
    def writes(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.conflicts or self.copies or self.spec_changed)

    def lines(self) -> list[str]:
        out = [f"  {label} {rel}" for label, rels in (("add", self.added), ("change", self.changed),
                                                       ("remove", self.removed), ("keep", self.kept))
               for rel in rels]
        out += [f"  conflict {c.describe()}" + (f": {_resolved(c)}" if c.resolution else "")
                for c in self.conflicts]
        out += [f"  add {rel} (yours: the old target's, to remove its stack once clients have moved)"
                for rel in self.copies]
        if self.spec_changed:
            out.append(f"  update {SPEC_FILE}")
        return out


def _resolved(conflict: Conflict) -> str:
    return {"merged": "merged your edits into the new version",
            "merged-with-markers": "merged, with conflict markers (<<<<<<<) where both changed the same lines: "
                                   "resolve them",
            "orig": f"the new version is in place; yours is kept as {conflict.backup}"}[conflict.resolution]


def rerender(project: Path, spec: ProjectSpec, model: ModelInfo, stage: Path, render_tree: Callable,
             *, model_source: Path | None = None, force: bool = False, dry_run: bool = False,
             spec_bytes: bytes | None = None, copies: dict[str, tuple[bytes, int]] | None = None) -> Plan:
    """Plan (and unless dry_run, apply) the move of project to the rendering of spec.

    render_tree(spec, model, into) renders a full project tree (spec file included) and returns it.
    model_source: a model file or folder to copy in (init --force); None leaves model/ as it is.
    spec_bytes: the spec file's new bytes; None writes spec.dump().
    copies: {path: (bytes, mode)} to write as the user's own files where that path is free.
    """
    old = read_manifest(project)
    tree = render_tree(spec, model, stage / "new")
    if model_source is not None:
        copy_model(model_source, model, tree)
    spec_path = tree / SPEC_FILE
    if spec_bytes is not None:
        spec_path.write_bytes(spec_bytes)
    new_files = tree_hashes(tree, spec, model, model_copied=model_source is not None)
    old_files = {rel: h for rel, h in (old.files if old else {}).items() if _compared(rel, model_source is not None)}
    plan = _plan(project, new_files, old_files)
    copies = {rel: item for rel, item in (copies or {}).items() if not (project / rel).exists() and rel not in new_files}
    plan.copies = sorted(copies)
    current_spec = project / SPEC_FILE
    plan.spec_changed = not current_spec.is_file() or current_spec.read_bytes() != spec_path.read_bytes()
    if plan.conflicts and not force and not dry_run:
        raise ConflictError(
            f"{len(plan.conflicts)} generated file(s) have your edits: "
            f"{'; '.join(c.describe() for c in plan.conflicts)}; nothing was written: add --force to merge "
            "them (or keep yours as NAME.orig), or --dry-run to see the whole plan")
    if dry_run:
        return plan
    base = _base_tree(old, model, stage / "base", render_tree) if plan.conflicts else None
    manifest_files = dict(new_files)
    if model_source is None:  # the model stays where it is, with the hashes detection read
        manifest_files.update(model_hashes(spec, model))
    _apply(project, tree, plan, base, stage / "rollback", spec_path, manifest_for(spec, manifest_files), copies)
    return plan


def tree_hashes(tree: Path, spec: ProjectSpec, model: ModelInfo, model_copied: bool) -> dict[str, str]:
    """The hash of every rendered file a plan compares (see _compared); the model's from detection."""
    known = model_hashes(spec, model)  # hashed by detection already: a model can be gigabytes
    return {rel: known.get(rel) or sha256_file(tree / rel) for rel in tree_files(tree) if _compared(rel, model_copied)}


def manifest_for(spec: ProjectSpec, files: dict[str, str]) -> Manifest:
    """The manifest of a rendering: every file deploygen owns and its hash, the user's files aside."""
    return Manifest(spec.target, __version__, {rel: h for rel, h in files.items() if rel not in USER_OWNED},
                    list(USER_OWNED), spec.to_dict())


def _compared(rel: str, model_copied: bool) -> bool:
    """Files the plan compares: not the spec, not the manifest, not the model unless one is copied in."""
    if rel in (SPEC_FILE, MANIFEST_PATH):
        return False
    return model_copied or not rel.startswith(MODEL_DIR + "/")


def _plan(project: Path, new: dict[str, str], old: dict[str, str]) -> Plan:
    plan = Plan(project)
    for rel in sorted(set(new) | set(old)):
        path = project / rel
        current = sha256_file(path) if path.is_file() else None
        exists = path.exists() or path.is_symlink()
        if rel in USER_OWNED:
            if exists:
                plan.kept.append(rel)
            elif rel in new:
                plan.added.append(rel)
        elif rel in new:
            if not exists:
                plan.added.append(rel)
            elif current == new[rel]:
                plan.unchanged.append(rel)
            elif rel in old and current == old[rel]:
                plan.changed.append(rel)
            elif rel in old and old[rel] == new[rel]:
                plan.kept.append(rel)  # edited, but deploygen's version is what it was: the edit stands
            else:
                plan.conflicts.append(Conflict(rel, "edited" if rel in old else "in-the-way"))
        elif exists:  # deploygen wrote it before; the new rendering has no such file
            if current == old[rel]:
                plan.removed.append(rel)
            else:
                plan.conflicts.append(Conflict(rel, "removed-edited"))
    return plan


def model_hashes(spec: ProjectSpec, model: ModelInfo) -> dict[str, str]:
    if model.files:
        return {f"{spec.model.path}/{name}": digest for name, digest in model.files.items()}
    return {spec.model.path: model.sha256}


def copy_model(source: Path, model: ModelInfo, tree: Path) -> None:
    target = tree / MODEL_DIR / model.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        target.mkdir()
        for name in model.files:  # only what detection read: no pickled weights, nothing hidden
            shutil.copyfile(source / name, target / name)
    else:
        shutil.copyfile(source, target)


def _base_tree(old: Manifest | None, model: ModelInfo, into: Path, render_tree: Callable) -> dict[str, bytes]:
    """The files as deploygen last wrote them, rebuilt from the old spec: only those whose hash matches.

    Possible only when the same deploygen version wrote them and the model is the one they were
    rendered for (its facts fill the templates); otherwise there is no base and no merge.
    """
    from .spec import from_dict

    if old is None or old.spec is None or old.deploygen_version != __version__:
        return {}
    if old.spec.get("model", {}).get("sha256") != model.sha256:
        return {}
    try:
        tree = render_tree(from_dict(old.spec, source=None), model, into)
    except Exception:  # an old spec this version cannot render: no base, so no merge
        return {}
    return {rel: (tree / rel).read_bytes() for rel in tree_files(tree)
            if old.files.get(rel) == sha256_file(tree / rel)}


def _merge(current: Path, base: bytes, new: bytes, scratch: Path) -> tuple[bytes, int] | None:
    """git merge-file of (yours, as deploygen wrote it, deploygen now): the result and its conflict count."""
    git = shutil.which("git")
    if git is None or b"\0" in base + new + current.read_bytes()[:8192]:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "base").write_bytes(base)
    (scratch / "new").write_bytes(new)
    proc = subprocess.run([git, "merge-file", "-p", "-L", "yours", "-L", "as deploygen wrote it",
                           "-L", "deploygen now", str(current), str(scratch / "base"), str(scratch / "new")],
                          capture_output=True, timeout=60)
    if proc.returncode < 0 or proc.returncode > 127:
        return None
    return proc.stdout, proc.returncode


def _apply(project: Path, tree: Path, plan: Plan, base: dict[str, bytes] | None, rollback: Path,
           spec_path: Path, manifest: Manifest, copies: dict[str, tuple[bytes, int]]) -> None:
    journal: list[tuple[Path, Path | None]] = []  # (path written or removed, where its old bytes are)
    made_dirs: list[Path] = []

    def move_aside(path: Path) -> None:
        saved = rollback / path.relative_to(project)
        saved.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, saved)
        journal.append((path, saved))

    def put(rel: str, data_from: Path | None = None, data: bytes | None = None) -> None:
        dst = project / rel
        if dst.exists() or dst.is_symlink():
            move_aside(dst)
        else:
            journal.append((dst, None))
        for parent in reversed(dst.relative_to(project).parents):
            folder = project / parent
            if not folder.exists():
                folder.mkdir()
                made_dirs.append(folder)
        if data is None:
            os.replace(data_from, dst)
        else:
            dst.write_bytes(data)

    try:
        for rel in plan.added + plan.changed:
            put(rel, tree / rel)
        for rel in plan.removed:
            move_aside(project / rel)
        for i, conflict in enumerate(plan.conflicts):
            plan.conflicts[i] = _resolve(conflict, project, tree, base or {}, rollback, put, journal)
        for rel, (data, mode) in copies.items():
            put(rel, data=data)
            os.chmod(project / rel, mode)
        if plan.spec_changed:
            put(SPEC_FILE, spec_path)
        put(MANIFEST_PATH, data=manifest.dumps().encode())
        _remove_empty_parents(project, [project / rel for rel in plan.removed], journal)
    except BaseException:
        for path, saved in reversed(journal):
            if saved is None:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir() if path.exists() and not any(path.iterdir()) else None
                elif path.exists() or path.is_symlink():
                    path.unlink()
            elif saved == path:  # a folder that was removed: made again
                path.mkdir(exist_ok=True)
            else:
                os.replace(saved, path)
        for folder in reversed(made_dirs):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _resolve(conflict: Conflict, project: Path, tree: Path, base: dict[str, bytes], rollback: Path,
             put: Callable, journal: list) -> Conflict:
    rel = conflict.path
    current = project / rel
    if conflict.why == "edited" and rel in base:
        merged = _merge(current, base[rel], (tree / rel).read_bytes(), rollback.parent / "merge" / rel)
        if merged is not None:
            data, conflicts = merged
            put(rel, data=data)
            return Conflict(rel, conflict.why, "merged-with-markers" if conflicts else "merged")
    backup = _free_name(current.with_name(current.name + ".orig"))
    shutil.copy2(current, backup, follow_symlinks=False)
    journal.append((backup, None))
    if conflict.why == "removed-edited":
        saved = rollback / rel
        saved.parent.mkdir(parents=True, exist_ok=True)
        os.replace(current, saved)
        journal.append((current, saved))
    else:
        put(rel, tree / rel)
    return Conflict(rel, conflict.why, "orig", backup.relative_to(project).as_posix())


def _remove_empty_parents(project: Path, removed: list[Path], journal: list) -> None:
    for path in removed:
        for folder in path.relative_to(project).parents:
            folder = project / folder
            if folder == project or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
            journal.append((folder, folder))  # undo: make it again


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}.{n}"), n + 1
    return candidate


def tree_files(tree: Path) -> list[str]:
    return sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())


def check_project(project: Path) -> Manifest:
    manifest = read_manifest(project)
    if manifest is None:
        raise OutputError(f"{project} has no readable {MANIFEST_PATH}: it was not rendered by deploygen, "
                          "or the manifest was removed; render it again with deploygen init --force")
    return manifest
