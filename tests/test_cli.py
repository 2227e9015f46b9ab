"""The ``bntheory`` command: layers, report, and the report's file ownership rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest
import torch

from bntheory import get_layer, register_layer, unregister_layer
from bntheory.claims import claims
from bntheory.claims.runs import RunsJudge
from bntheory.cli import main
from bntheory.errors import DuplicateLayerError, UnknownLayerError
from bntheory.norms import BatchNorm, layer_names
from bntheory.report.files import MANIFEST, ReportConflictError, ReportDir, atomic_write


def test_layers_lists_batchnorm_with_capabilities(capsys):
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert "batchnorm" in out and "closed form" in out and "torch.nn.functional.batch_norm" in out
    assert main(["layers", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    bn = next(r for r in rows if r["name"] == "batchnorm")
    assert (bn["jvp"], bn["vjp"], bn["hvp"], bn["symbolic"]) == ("closed form",) * 3 + ("sympy",)


def test_console_script_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "bntheory.cli", "layers"], capture_output=True, text=True, check=True
    )
    assert "batchnorm" in proc.stdout


def test_unknown_layer_on_the_command_line(capsys, tmp_path):  # fails before any work
    assert main(["report", "--out", str(tmp_path), "--layer", "batchnrom"]) == 2
    assert "unknown layer 'batchnrom'; known layers: batchnorm" in capsys.readouterr().err


def test_registry_rejects_duplicates_and_accepts_replacement():
    class Other(BatchNorm):
        name = "batchnorm-copy"

    register_layer(Other)
    try:
        with pytest.raises(DuplicateLayerError, match="already registered"):
            register_layer(Other)
        register_layer(Other, replace=True)
        assert get_layer("batchnorm-copy").provides()["hvp"] == "closed form"
    finally:
        unregister_layer("batchnorm-copy")
    with pytest.raises(UnknownLayerError):
        get_layer("batchnorm-copy")


@pytest.fixture(scope="module")
def fast_proofs(tmp_path_factory):
    """Two quick proofs, so report tests do not spend their time in SymPy."""
    d = tmp_path_factory.mktemp("proofs")
    for name in ("p6_observation_4_3.py", "p7_lemma_4_5.py"):
        shutil.copy(Path(__file__).parents[1] / "proofs" / name, d / name)
    return str(d)


@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory, fast_proofs):
    """Two ``bntheory report --quick`` runs with the same seed, into ``a`` (in this process)
    and ``b`` (in a fresh one, at the same time, its verdicts and worst-case studies in two
    worker processes, ``--jobs 2``): a fresh process also catches results that depend on what
    this process imported or ran before, as Hypothesis's examples once did, and ``b`` shows
    that the results do not depend on ``--jobs``.

    Each run gets one thread (torch, Numba and OpenMP alike) and so one of CI's two cores:
    two runs of two threads each on two cores spend much of their time in each other's
    spin-waiting OpenMP threads."""
    root = tmp_path_factory.mktemp("reports")
    argv = lambda d: [
        "report",
        "--out",
        str(root / d),
        "--seed",
        "3",
        "--proofs",
        fast_proofs,
        "--quick",
    ]  # noqa: E731
    log = root / "b.log"  # a file, not a pipe: a full pipe would stall the other run
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    threads = torch.get_num_threads(), numba.get_num_threads()
    with log.open("w") as fh:
        other = subprocess.Popen(
            [sys.executable, "-m", "bntheory.cli", *argv("b"), "--jobs", "2"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            torch.set_num_threads(1)
            numba.set_num_threads(1)
            assert main(argv("a")) == 0
            other.wait(timeout=1800)
        finally:
            torch.set_num_threads(threads[0])
            numba.set_num_threads(threads[1])
            if other.poll() is None:
                other.kill()
    assert other.returncode == 0, log.read_text()[-4000:]
    return root


def test_report_writes_layers_page_and_json(quick_reports):
    tmp_path = quick_reports / "a"
    md = (tmp_path / "layers.md").read_text()
    doc = json.loads((tmp_path / "data" / "layers.json").read_text())
    assert doc["schema"] == 2 and doc["meta"]["seed"] == 3 and doc["meta"]["device"] == "cpu"
    assert (
        [a["name"] for a in doc["analogues"]] == [s["name"] for s in doc["layers"]] == layer_names()
    )
    assert all(s["comparisons"] > 0 and s["failures"] == 0 for s in doc["symbolic"].values())
    assert "## Theorems 1 and 2 across layers" in md and "| `l1batchnorm` | 1, 1 other |" in md
    ops = {op["op"]: op for op in doc["layers"][0]["ops"]}
    assert set(ops) == {"forward", "jvp", "vjp", "hvp"}
    for op in ops.values():
        assert op["cases"] > 0 and op["failures"] == 0 and 0 <= op["max_ratio"] <= 1
        assert f"{op['max_rel_error']:.2e}" in md  # the page shows the measured numbers
    assert "bntheory report --out" in md and "torch" in md
    files = sorted(json.loads((tmp_path / MANIFEST).read_text())["files"])
    expected = {
        "data/layers.json",
        "data/proofs.json",
        "data/verdicts.json",
        "data/claims.json",
        "derivations/README.md",
        "derivations/lemma-4.5.md",
        "derivations/observation-4.3.md",
        "figures/tightness.png",
        "figures/tightness.svg",
        "data/landscape-smoke.json",
        "landscape/smoke.md",
        "layers.md",
        "verdicts.md",
        "index.md",
        "bntheory.tex",
        "figures/layer-gains.png",
        "figures/layer-gains.svg",
        "data/torch.json",
        "torch/index.md",
        "data/spectrum.json",
        "spectrum/index.md",
        *[f"spectrum/{f}.{e}" for f in ("densities", "training") for e in ("png", "svg")],
        *[
            f"landscape/smoke-{f}.{e}"
            for f in ("activations", "curves", "ics", "landscape", "seeds", "spectrum")
            for e in ("png", "svg")
        ],
    }
    assert expected <= set(files)
    theorem_pages = [f for f in files if f.startswith("theorems/") and f.endswith(".md")]
    assert len(theorem_pages) == len(claims())  # one page per catalogued claim
    measured = [
        c.id for c in claims() if c.judge.kind == "measured" and not isinstance(c.judge, RunsJudge)
    ]  # claims judged from runs: those of the presets this report ran (smoke)
    unjudged = [
        f for f in theorem_pages if "Not judged in this report" in (tmp_path / f).read_text()
    ]
    assert unjudged and "theorems/bjorck2018.learning-rate.md" in unjudged
    assert "`lr-grid`" in (tmp_path / "theorems/bjorck2018.learning-rate.md").read_text()
    tables = {f"tables/{i.grid[0]}.md" for i in (c.info for c in claims()) if i.grid}
    assert tables and tables <= set(files)  # the comparison tables against the published ones
    assert {f"theorems/{m}-measured.png" for m in measured} <= set(files)  # their figures
    assert set(files) - expected == set(theorem_pages) | tables | {
        f
        for f in files
        if f.endswith(("-tightness.png", "-tightness.svg", "-measured.png", "-measured.svg"))
        or (f.startswith("torch/torch.") and f.endswith(".py"))  # the refuted routes' scripts
    }
    assert all((tmp_path / f).is_file() for f in files)
    page = (tmp_path / "derivations" / "lemma-4.5.md").read_text()
    assert page.startswith("# (g) Lemma 4.5") and "the proof holds" in page
    proofs = json.loads((tmp_path / "data" / "proofs.json").read_text())
    assert [p["ok"] for p in proofs["proofs"]] == [True, True]


def test_report_shows_the_spectrum_page(quick_reports):
    """The smoke runs' spectrum probes judge ghorbani2019.outliers; the page shows each part's
    verdict beside the record in claims.json, and the densities of the three configurations."""
    root = quick_reports / "a"
    md = (root / "spectrum" / "index.md").read_text()
    records = [
        r
        for r in json.loads((root / "data" / "claims.json").read_text())["claims"]
        if r["id"] == "ghorbani2019.outliers"
    ]
    assert len(records) == 6 and all(r["regime"].startswith("smoke, lr 0.1, ") for r in records)
    assert "## smoke, lr 0.1" in md and "![densities](densities.png)" in md
    for r in records:
        part = r["regime"].split(", ", 2)[2]
        assert f"| {part} | **{r['verdict']}** |" in md
    doc = json.loads((root / "data" / "spectrum.json").read_text())
    dens = doc["regimes"]["smoke, lr 0.1"]["outliers without batchnorm"]["densities"]
    assert [d["label"] for d in dens] == ["none", "BatchNorm, train mode", "BatchNorm, eval mode"]
    assert (root / "spectrum" / "densities.png").read_bytes().startswith(b"\x89PNG")
    landscape = (root / "landscape" / "smoke.md").read_text()
    assert "## Hessian spectrum" in landscape and "| `batchnorm` | 0.1 | eval |" in landscape
    assert "[spectrum/index.md](spectrum/index.md)" in (root / "index.md").read_text()


def test_report_is_deterministic_up_to_the_timestamp(quick_reports):
    tmp_path = quick_reports
    names = (
        "data/layers.json",
        "data/proofs.json",
        "data/verdicts.json",
        "data/landscape-smoke.json",
    )
    docs = [json.loads((tmp_path / d / name).read_text()) for d in ("a", "b") for name in names]
    for doc in docs:
        doc["meta"].pop("generated")
        assert "--seed 3" in doc["meta"].pop("command")  # the out dirs differ
    assert docs[:4] == docs[4:]
    for fig in ("figures/tightness.png", "figures/tightness.svg", "landscape/smoke-landscape.png"):
        assert (tmp_path / "a" / fig).read_bytes() == (tmp_path / "b" / fig).read_bytes()


def test_report_shows_tightness_worst_cases_and_lemma_4_5(quick_reports):
    doc = json.loads((quick_reports / "a" / "data" / "verdicts.json").read_text())
    by_id = {(v["id"], v["regime"]): v for v in doc["statements"]}
    assert by_id[("thm1.exact", "eps>0")]["tightness"]["attained"] is True
    arxiv = by_id[("thm1.arxiv", "eps=0")]
    assert arxiv["tightness"]["objective"] == "violation" and arxiv["worst_case"]["violated"]
    assert arxiv["worst_case"]["minimal"]["m"] >= 2
    for sid in ("thm4.4.printed", "thm4.4.consistent", "lemma4.5"):
        assert by_id[(sid, "eps=0")]["verdict"] == "refuted"
    assert by_id[("thm4.4.derived", "eps>0")]["verdict"] == "holds"
    md = (quick_reports / "a" / "verdicts.md").read_text()
    assert (
        "## Tightness and worst cases" in md
        and "![tightness and worst cases](figures/tightness.png)" in md
    )
    assert "## Lemma 4.5" in md and r"\begin{pmatrix}" in md
    assert (quick_reports / "a" / "figures" / "tightness.png").read_bytes().startswith(b"\x89PNG")


def _thread_counts() -> tuple:
    from threadpoolctl import threadpool_info

    return (
        torch.get_num_threads(),
        numba.get_num_threads(),
        sorted({d["num_threads"] for d in threadpool_info()}),
    )


def test_workers_run_one_thread_in_every_pool():
    """--jobs N: each worker has one thread in torch, Numba and every BLAS/OpenMP pool loaded
    (two-thread pools in two workers on two cores made the workers no faster than one)."""
    from bntheory.pool import workers as _workers

    with _workers(2) as pool:
        assert pool.submit(_thread_counts).result() == (1, 1, [1])


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_jobs_must_be_a_positive_whole_number(jobs, capsys):
    with pytest.raises(SystemExit):
        main(["report", "--jobs", jobs])
    assert f"--jobs must be a whole number >= 1, got '{jobs}'" in capsys.readouterr().err


def test_report_never_overwrites_a_users_file(tmp_path, fast_proofs):
    mine = tmp_path / "layers.md"
    mine.write_text("my own notes\n")
    assert (
        main(
            ["report", "--out", str(tmp_path), "--proofs", fast_proofs, "--verify-profile", "quick"]
        )
        == 2
    )
    assert mine.read_text() == "my own notes\n"
    with pytest.raises(ReportConflictError, match="not written by bntheory report"):
        ReportDir(tmp_path).write("layers.md", "x")


def test_report_keeps_an_edited_owned_file(tmp_path):
    out = ReportDir(tmp_path)
    out.write("page.md", "generated 1\n")
    (tmp_path / "page.md").write_text("generated 1, edited by hand\n")
    out = ReportDir(tmp_path)
    out.write("page.md", "generated 2\n")
    assert (tmp_path / "page.md").read_text() == "generated 2\n"
    assert (tmp_path / "page.md.edited").read_text() == "generated 1, edited by hand\n"
    assert any("edited" in n for n in out.notes)
    out.write("page.md", "generated 3\n")  # unedited: replaced silently
    assert (tmp_path / "page.md").read_text() == "generated 3\n"


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "sub" / "f.txt", "abc")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["f.txt"]
    assert (tmp_path / "sub" / "f.txt").stat().st_mode & 0o044  # readable by others, as usual


def test_report_index_theorem_pages_and_tex(quick_reports):
    root = quick_reports / "a"
    index = (root / "index.md").read_text()
    assert "[`thm1.arxiv`](theorems/thm1.arxiv.md)" in index and "landscape/smoke.md" in index
    assert (
        "## Theorems 1 and 2 across normalization layers" in index
        and "| `linfbatchnorm` | 1, 1 other |" in index
    )
    page = (root / "theorems" / "thm1.arxiv.md").read_text()
    assert (
        "## As printed" in page and "## Exact form" in page and "## Counterexample, eps=0" in page
    )
    assert r"\begin{pmatrix}" in page and "thm1.arxiv-tightness.png" in page
    assert (root / "theorems" / "thm1.arxiv-tightness.png").read_bytes().startswith(b"\x89PNG")
    assert "Counterexample (exact" in (root / "theorems" / "lemma4.5.md").read_text()
    tex = (root / "bntheory.tex").read_text()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert all(ord(c) < 128 for c in tex), "non-ASCII left in the LaTeX document"


def _pdflatex(workdir: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="no TeX installed (pdflatex not found)"
)
def test_report_tex_compiles_with_pdflatex(quick_reports, tmp_path):
    work = tmp_path / "tex"
    shutil.copytree(quick_reports / "a", work)
    run = _pdflatex(work, "bntheory.tex")
    assert run.returncode == 0, run.stdout[-3000:]
    assert (work / "bntheory.pdf").stat().st_size > 10_000


MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$", re.S)


def formulas(root: Path) -> list[tuple[str, str]]:
    """Every ``$$...$$`` and ``$...$`` formula of the Markdown pages under ``root``."""
    out = []
    for md in sorted(root.rglob("*.md")):
        text = re.sub(r"`[^`\n]*`", "", md.read_text())  # code spans hold no math
        for m in MATH.finditer(text):
            out.append((str(md.relative_to(root)), (m.group(1) or m.group(2)).strip()))
    return out


@pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="no TeX installed (pdflatex not found)"
)
@pytest.mark.parametrize("which", ["generated", "committed"])
def test_every_formula_of_the_markdown_pages_parses_in_latex(which, quick_reports, tmp_path):
    root = quick_reports / "a" if which == "generated" else Path(__file__).parents[1] / "reports"
    found = formulas(root)
    assert len(found) > 50
    body = "\n".join(rf"\typeout{{FORMULA {i}}}\[{f}\]" for i, (_, f) in enumerate(found))
    (tmp_path / "f.tex").write_text(
        r"\documentclass{article}\usepackage{amsmath,amssymb}"
        r"\setcounter{MaxMatrixCols}{20}\begin{document}" + body + r"\end{document}"
    )
    run = _pdflatex(tmp_path, "f.tex")
    if run.returncode != 0:
        last = max((int(m) for m in re.findall(r"FORMULA (\d+)", run.stdout)), default=0)
        page, bad = found[last]
        pytest.fail(f"a formula on {page} does not parse: {bad}\n{run.stdout[-1500:]}")
