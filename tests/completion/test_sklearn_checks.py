"""scikit-learn's estimator checks on MatrixCompletion (issue 16), with the checks that cannot apply listed in
one place, each with its reason."""

import warnings

import pytest

from numopt.completion import MatrixCompletion

sklearn = pytest.importorskip("sklearn", minversion="1.6")   # expected_failed_checks
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

_TRANSDUCTIVE = ("MatrixCompletion is transductive: it completes the one matrix it was fitted on, and "
                 "predict takes (row, col) index pairs of that matrix, not new samples with the fitted features")
_TYPE = ("numopt's convention: input of a wrong type (complex, object) is a TypeError naming the argument, "
         "where scikit-learn expects a ValueError")

#: The checks that cannot apply to a completion estimator, with the reason.
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in_after_fitting": _TRANSDUCTIVE,
    "check_estimators_dtypes": _TRANSDUCTIVE,
    "check_estimators_pickle": _TRANSDUCTIVE,
    "check_f_contiguous_array_estimator": _TRANSDUCTIVE,
    "check_methods_sample_order_invariance": _TRANSDUCTIVE,
    "check_methods_subset_invariance": _TRANSDUCTIVE,
    "check_dict_unchanged": _TRANSDUCTIVE,
    "check_fit_idempotent": _TRANSDUCTIVE,
    "check_fit2d_predict1d": _TRANSDUCTIVE,
    "check_estimator_sparse_array": _TRANSDUCTIVE + " (sparse input is accepted by fit: stored entries are "
                                    "the observations; the check then predicts on the sparse matrix)",
    "check_estimator_sparse_matrix": _TRANSDUCTIVE + " (as check_estimator_sparse_array)",
    "check_complex_data": _TYPE,
    "check_dtype_object": _TYPE,
}


with warnings.catch_warnings():   # numopt does not import scikit-learn, so no BaseEstimator: said at collection
    warnings.filterwarnings("ignore", message="Estimator MatrixCompletion does not inherit", category=UserWarning)
    _checks = parametrize_with_checks([MatrixCompletion(rank=1, maxiter=20, rng=0)],
                                      expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)


@_checks
@pytest.mark.filterwarnings("ignore::numopt.ConvergenceWarning")   # the checks' random data are not low rank
@pytest.mark.filterwarnings("ignore::numopt.completion.UnderdeterminedWarning")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
