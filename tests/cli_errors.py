"""What every refused command line must look like: exit 2, nothing on stdout, one line on stderr."""
from __future__ import annotations

from vgviz.cli import main


def one_line_error(capsys, argv, *needles) -> str:
    """Run ``vgviz argv`` in-process; assert it was refused in one line holding every needle."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vgviz: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
