"""Feedback without the hidden tests.

nbgrader's feedback is the autograded notebook as HTML: left alone, it
would show the code of every hidden test, and the traceback of a failed
one (which quotes the failing line and the lines around it).
:class:`RedactHiddenTests` removes the hidden regions from the test cells
(nbgrader's ClearHiddenTests) and, in those cells, replaces each traceback
by its last line, e.g. ``AssertionError: random vectors: wrong values.``,
preceded by the failing line when that line is a visible test. The student
learns which check failed, not the hidden inputs or expected numbers.
Scores are unchanged (they are read from the gradebook).

A student's own function runs inside the hidden tests, so it could print
their inputs or code (``In[-1]``, the caller's frame) or raise an error
that quotes them. In a cell with hidden tests only the error outputs stay,
cut to one line of at most ``MAX_MESSAGE`` characters; a message that
quotes a line of the hidden code is replaced by a notice.
"""
import re

from nbgrader.preprocessors import ClearHiddenTests

BEGIN = "### BEGIN HIDDEN TESTS"
END = "### END HIDDEN TESTS"
MAX_MESSAGE = 300
QUOTED = "(message hidden: it quoted the hidden tests)"


def hidden_lines(source: str) -> list[str]:
    """The hidden tests' lines long enough to recognise when quoted."""
    lines = []
    for block in source.split(BEGIN)[1:]:
        for line in block.split(END)[0].splitlines():
            line = line.strip()
            if len(line) >= 8 and not line.startswith("#"):
                lines.append(line)
    return lines


def safe_message(text: str, secrets: list[str]) -> str:
    """One line of at most MAX_MESSAGE characters, quoting no secret."""
    text = " ".join(str(text).split())
    if any(s in text or s.replace(" ", "") in text.replace(" ", "")
           for s in secrets):
        return QUOTED
    return text[:MAX_MESSAGE]


class RedactHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback, plus short hidden-test tracebacks."""

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and BEGIN in cell.source
        visible_lines = 0
        if had_hidden:
            visible_lines = cell.source.split(BEGIN)[0].count("\n")
            secrets = hidden_lines(cell.source)
        cell, resources = super().preprocess_cell(cell, resources,
                                                  cell_index)
        if had_hidden:
            cell.source += ("\n# (hidden tests ran here; their code is not"
                            " shown)")
            lines = cell.source.split("\n")
            cell.outputs = [o for o in cell.get("outputs", [])
                            if o.get("output_type") == "error"]
            for out in cell.outputs:
                out["ename"] = safe_message(out.get("ename", ""), secrets)
                out["evalue"] = safe_message(out.get("evalue", ""), secrets)
                short = [f"{out['ename']}: {out['evalue']}"]
                n = _failing_line(out)
                if n is not None and n <= visible_lines:
                    short.insert(0, f"failed at line {n}: "
                                    f"{lines[n - 1].strip()}")
                out["traceback"] = short
        return cell, resources


def _failing_line(out):
    """The cell line (1-based) an IPython traceback points at, or None.

    IPython marks it ``----> N`` in the cell's frame (the first frame); an
    error raised inside a called function still passes through that line.
    """
    for frame in out.get("traceback", []):
        plain = re.sub(r"\x1b\[[0-9;]*m", "", frame)
        m = re.search(r"^-+> (\d+)", plain, flags=re.M)
        if m:
            return int(m.group(1))
    return None
