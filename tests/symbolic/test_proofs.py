"""Every proof in proofs/ passes; a wrong step fails; `bntheory prove` prints the table."""

from __future__ import annotations

import pytest
import sympy

from bntheory.cli import main
from bntheory.symbolic import catalogue, general
from bntheory.symbolic.proof import Proof, render_markdown

PROOFS = catalogue.load_proofs()


@pytest.mark.parametrize("proof", PROOFS, ids=[p.id for p in PROOFS])
def test_proof_holds(proof):
    result = proof.run()
    assert result.ok, "\n".join(
        f"step {i}: {s.text}: {s.detail}" for i, s in enumerate(proof.steps, 1) if not s.ok
    )
    md = render_markdown(result)
    assert md.startswith(f"# {proof.title}") and "✗" not in md


def test_the_required_proofs_exist():
    ids = {p.id for p in PROOFS}
    assert {
        "jacobian",
        "second-derivative",
        "theorem1",
        "theorem2",
        "scale-invariance",
        "observation-4.3",
        "lemma-4.5",
    } <= ids


def test_a_false_step_fails_and_is_reported():
    p = Proof(id="wrong", title="wrong", claim="2ab is 3ab")
    a, b = sympy.symbols("a b")
    p.eq("true", (a + b) ** 2, a**2 + 2 * a * b + b**2)
    p.eq("false", 2 * a * b, 3 * a * b)
    p.le("inequality without a valid certificate", a**2, a**2 + b, b)  # b may be negative
    result = p.run()
    assert not result.ok and result.failed_steps == [2, 3]
    assert "FAILS at step(s) [2, 3]" in render_markdown(result)


def test_a_wrong_jacobian_is_not_proved():
    """The chain-rule derivation disagrees with a closed form that drops the yhat yhat^T term."""
    wrong = general.gamma / general.sigma * (general.d("i", "k") - 1 / general.m)
    derived = general.to_yhat(general.total_derivative(general.forward_indexed("i"), "k"))
    p = Proof(id="w", title="w", claim="")
    p.eq("wrong Jacobian", derived, wrong)
    assert not p.run().ok


def test_prove_cli_prints_a_table(capsys):
    assert main(["prove", "theorem1", "lemma-4.5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["proof", "steps", "result", "seconds"]
    assert out[1].split()[:3] == ["theorem1", "7", "ok"] and out[2].split()[0] == "lemma-4.5"


def test_prove_cli_unknown_proof(capsys):
    assert main(["prove", "theorem3"]) == 2
    assert "unknown proof(s) 'theorem3'; known proofs: jacobian" in capsys.readouterr().err
