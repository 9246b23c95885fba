"""A folder of submissions, checked before any grading.

``SUBMISSIONS/<student>.ipynb`` or ``SUBMISSIONS/<student>/<notebook>``.
Every entry becomes one :class:`Submission`; one that cannot be graded
(an empty file, a file that is not JSON, a notebook of another
assignment, several notebooks where one is expected, a folder without a
notebook) carries the one-line reason, is listed in the CSV as
``not graded: <reason>`` and is not given 0 points. Hidden entries
(``.ipynb_checkpoints``, ``.DS_Store``) are skipped. Names with spaces or
non-ASCII letters are graded like any other.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


class SubmissionsError(ValueError):
    """The submissions folder itself is unusable (one-line message)."""


@dataclass
class Submission:
    student: str
    files: dict = field(default_factory=dict)   # notebook stem -> Path
    problem: str | None = None                   # why it is not graded

    def fingerprint(self) -> str:
        """sha256 of the submitted notebooks (names and bytes)."""
        h = hashlib.sha256()
        for stem, path in sorted(self.files.items()):
            h.update(stem.encode() + b"\0" + Path(path).read_bytes())
        return h.hexdigest()


def grade_ids(nb: dict) -> set:
    """The nbgrader cell ids of a notebook (its assignment's signature)."""
    return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            for c in nb.get("cells", []) if isinstance(c, dict)} - {None}


def notebook_problem(path: Path, assignment: str,
                     signatures: dict) -> str | None:
    """Why the file at ``path`` cannot be graded, or None.

    ``signatures``: {assignment: its grade ids}; a notebook belongs to
    another assignment when it has none of the ids that only
    ``assignment`` has (ids such as ``setup`` are shared) but some of
    another's.
    """
    raw = path.read_bytes()
    if not raw.strip():
        return f"{path.name} is an empty file"
    try:
        nb = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{path.name} is not a notebook (not JSON: {exc})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return f"{path.name} is not a notebook (no list of cells)"
    ids = grade_ids(nb)
    own = _own_ids(assignment, signatures)
    if own and not ids & own:
        owner = [a for a in sorted(signatures) if a != assignment
                 and ids & _own_ids(a, signatures)]
        if owner:
            return (f"{path.name} is a notebook of another assignment "
                    f"({owner[0]})")
    return None


def _own_ids(assignment: str, signatures: dict) -> set:
    """The grade ids of ``assignment`` that no other assignment uses."""
    others = set().union(*[ids for a, ids in signatures.items()
                           if a != assignment])
    return set(signatures.get(assignment, ())) - others


def _folder_files(folder: Path, notebooks: list) -> tuple[dict, str | None]:
    found = sorted(p for p in folder.rglob("*.ipynb")
                   if not any(part.startswith(".") for part in
                              p.relative_to(folder).parts))
    if not found:
        return {}, "no notebook in the folder"
    if len(notebooks) == 1:
        named = [p for p in found if p.stem == notebooks[0]]
        if len(found) > 1 and len(named) != 1:
            names = ", ".join(p.name for p in found[:4])
            return {}, f"several notebooks ({names}); hand in one"
        return {notebooks[0]: (named or found)[0]}, None
    return {p.stem: p for p in found if p.stem in notebooks}, None


def check_folder(folder: Path) -> None:
    """SubmissionsError (one line) unless ``folder`` is a folder with at
    least one visible entry; cheap, so it runs before any set-up."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionsError(
            f"no submissions folder {folder}: give the folder that holds "
            "<student>.ipynb or <student>/<notebook>.ipynb")
    if not any(not p.name.startswith(".") for p in folder.iterdir()):
        raise SubmissionsError(
            f"the submissions folder {folder} is empty: nothing to grade")


def find(folder: Path, notebooks: list, assignment: str = "",
         signatures: dict | None = None) -> list[Submission]:
    """The submissions of ``folder``, sorted by student, each checked
    (``signatures``: {assignment: grade ids}, see notebook_problem)."""
    folder = Path(folder)
    check_folder(folder)
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            sub = Submission(entry.name)
            sub.files, sub.problem = _folder_files(entry, notebooks)
        elif entry.suffix == ".ipynb":
            sub = Submission(entry.stem, {notebooks[0]: entry})
        else:
            sub = Submission(entry.name, problem=(
                f"{entry.name} is not a notebook (.ipynb)"))
        for path in sub.files.values():
            sub.problem = sub.problem or notebook_problem(
                path, assignment, signatures or {})
        out.append(sub)
    return out
