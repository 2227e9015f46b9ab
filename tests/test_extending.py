"""docs/extending.md works as written: its files are written and its commands run, in order,
in an empty directory; every output line it shows must appear in the command's output.

Only one thing differs from a user's machine: ``pip install`` installs into a directory of
this test (``--target``, then on ``PYTHONPATH``) instead of the environment running the tests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"```(python|toml|console)\n(.*?)```", re.S)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def blocks(text: str) -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(text)]


def console_steps(body: str) -> list[tuple[str, list[str]]]:
    """``[(command, expected output lines)]`` of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif line.strip():
            steps[-1][1].append(line)
    return steps


def test_the_tutorial_has_files_and_commands():
    kinds = [k for k, _ in blocks(DOC.read_text())]
    assert kinds.count("console") >= 4 and kinds.count("python") >= 4 and "toml" in kinds


def test_the_tutorial_works_as_written(tmp_path):
    site = tmp_path / "site"
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("BNTHEORY_LAYER_MODULES", None)
    ran = 0
    for kind, body in blocks(DOC.read_text()):
        if kind in ("python", "toml"):
            first = body.splitlines()[0]
            assert first.startswith("# file: "), (
                f"a code block of the tutorial names no file: {first!r}"
            )
            path = work / first[len("# file: ") :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            continue
        for command, expected in console_steps(body):
            cmd = command
            if cmd.startswith("pip install "):
                cmd = (
                    f"{shlex.quote(sys.executable)} -m pip install -q --target "
                    f"{shlex.quote(str(site))} " + cmd[12:]
                )
                env["PYTHONPATH"] = str(site)
            proc = subprocess.run(
                ["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, timeout=600
            )
            output = proc.stdout + proc.stderr
            assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{output[-3000:]}"
            for line in expected:
                want = _collapse(line.replace("…", ""))
                assert want in _collapse(output), (
                    f"`{command}`: expected {line!r} in its output:\n{output[-3000:]}"
                )
            ran += 1
    assert ran >= 6
    page = (work / "meancenter-report" / "layers.md").read_text()
    assert "`meancenter` (jvp, vjp, hvp)" in page and "| `meancenter` | 1 |" in page
