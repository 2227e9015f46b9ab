"""The package's documented API: ``from bntheory.symbolic import jacobian, hessian``."""

import sympy


def test_jacobian_and_hessian_are_exported_from_the_package():
    import bntheory.symbolic
    from bntheory.symbolic import explicit, hessian, jacobian

    assert jacobian is explicit.jacobian and hessian is explicit.hessian
    assert set(bntheory.symbolic.__all__) == {"jacobian", "hessian"}


def test_jacobian_of_batchnorm_is_an_m_by_m_matrix():
    from bntheory.symbolic import jacobian

    jac = jacobian("batchnorm", 2, 0)
    assert isinstance(jac, sympy.MatrixBase)
    assert jac.shape == (2, 2)
    assert jac.free_symbols <= {
        sympy.Symbol("y0", real=True),
        sympy.Symbol("y1", real=True),
        sympy.Symbol("gamma", real=True),
    }


def test_hessian_of_batchnorm_is_a_rank_3_array():
    from bntheory.symbolic import hessian

    hess = hessian("batchnorm", 3, "eps")
    assert isinstance(hess, sympy.NDimArray)
    assert hess.shape == (3, 3, 3)
