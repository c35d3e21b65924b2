"""The scikit-learn estimator protocol shared by numopt's estimators, without importing scikit-learn.

:class:`EstimatorParams` gives ``get_params``/``set_params`` (parameters are the keyword arguments of
``__init__``, which only stores them), the repr and the fitted check; :class:`NotFittedError` is raised by
a method that needs ``fit`` first. Used by ``MatrixCompletion``, ``SpectralUnmixing``, ``BilevelRidge`` and
``BilevelLogisticRegression``.
"""

from __future__ import annotations

import inspect
import sys

from ._validation import fail

__all__ = ["EstimatorParams", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """An estimator used before ``fit``. A ValueError and an AttributeError, like scikit-learn's
    ``sklearn.exceptions.NotFittedError`` (which is not imported here)."""


_WITH_SKLEARN = {}


def _not_fitted_error():
    """:class:`NotFittedError`, or, once scikit-learn is imported (by the user or its checks), a subclass of
    both it and ``sklearn.exceptions.NotFittedError``, so that either ``except`` clause catches it."""
    theirs = getattr(sys.modules.get("sklearn.exceptions"), "NotFittedError", None)
    if theirs is None:
        return NotFittedError
    if theirs not in _WITH_SKLEARN:
        _WITH_SKLEARN[theirs] = type("NotFittedError", (NotFittedError, theirs), {"__module__": __name__})
    return _WITH_SKLEARN[theirs]


class EstimatorParams:
    """``get_params``/``set_params``/repr from ``__init__``'s keyword arguments, and ``_check_fitted``."""

    #: The learned attribute whose presence means "fitted".
    _fitted_attribute = "result_"

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Parameters of this estimator (``deep`` is accepted for compatibility; there are no sub-estimators)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters; an unknown name is a ValueError listing the valid ones."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise fail(f"{type(self).__name__}.set_params", name, f"be one of {', '.join(valid)}",
                           "an unknown parameter")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self, func):
        if not hasattr(self, self._fitted_attribute):
            raise fail(func, "self", "be fitted (call fit first)", f"an unfitted {type(self).__name__}",
                       error=_not_fitted_error())
