"""symbolic/ never imports torch (the architecture's rule): a fresh interpreter proves it."""

import subprocess
import sys


def test_symbolic_modules_do_not_import_torch():
    code = (
        "import sys\n"
        "import bntheory.symbolic.explicit, bntheory.symbolic.general, bntheory.symbolic.proof\n"
        "import bntheory.symbolic.checks, bntheory.symbolic.catalogue\n"
        "from bntheory.symbolic import catalogue, hessian, jacobian\n"
        "catalogue.load_proofs()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
