r"""SymPy derivations of normalization layers' derivatives, and the executable proofs.

For one normalization group :math:`y = (y_0, \dots, y_{m-1})` with :math:`\mu = \mathrm{mean}(y)`,
:math:`\mathrm{var}`, :math:`\sigma = \sqrt{\mathrm{var} + \varepsilon}`,
:math:`\hat y = (y - \mu)/\sigma` and :math:`z = \gamma\hat y + \beta`:

* :mod:`~bntheory.symbolic.explicit` -- explicit-``m`` derivatives of a registered layer's
  symbolic forward: :func:`jacobian` (the ``m x m`` Matrix
  :math:`J_{ik} = \partial z_i/\partial y_k`) and :func:`hessian` (the rank-3 Array
  :math:`\partial^2 z_i/\partial y_k\partial y_l`);
* :mod:`~bntheory.symbolic.general` -- BatchNorm's Jacobian and second derivative for every
  batch size ``m`` (index calculus and batch-vector algebra);
* :mod:`~bntheory.symbolic.checks` -- cross-checks of the general-``m`` closed forms against
  the explicit-``m`` ones;
* :mod:`~bntheory.symbolic.proof` and :mod:`~bntheory.symbolic.catalogue` -- executable,
  literate proofs (``proofs/*.py``) and the code that finds and runs them.

By the architecture's rule this package never imports torch: the layer registry (which
does) is imported lazily, inside the functions that need it.
"""

from bntheory.symbolic.explicit import hessian, jacobian

__all__ = ["hessian", "jacobian"]
