"""Bilevel learning of hyperparameters by MAID (Salehi, Mukherjee, Roberts, Ehrhardt, arXiv:2308.10098).

* :func:`maid` -- adaptively inexact gradient descent on f(θ) = g(x̂(θ)), x̂(θ) = argmin_x h(x, θ), with a
  certified error bound ω on every hypergradient and an inexact sufficient-decrease test that makes every
  accepted step decrease the *exact* f.
* :class:`BilevelProblem` -- the base class a user subclasses (oracles of h and g, μ, L, L_g).
* Ready-made problems with exact constants: :func:`quadratic_problem` (the paper's §4.1),
  :func:`ridge_problem` (scalar or per-feature), :func:`tikhonov_fourier_problem` (one weight per frequency),
  :func:`tv_denoising_problem` (smoothed TV, weight and smoothing), :func:`logistic_problem` (multinomial, one
  weight per coefficient; its Hessian's Lipschitz constant is estimated, so not certified).
* :class:`BilevelRidge`, :class:`BilevelLogisticRegression` -- scikit-learn style estimators (no sklearn import).

The adjoint systems are solved by :func:`numopt.linalg.cg` to an absolute residual.
"""

from ._estimator import BilevelLogisticRegression, BilevelRidge
from ._maid import CONSTANTS, BilevelResult, Constants, Hypergradient, hypergradient, maid
from ._oracle import error_bound
from ._problem import BilevelProblem, fista
from ._problems import (LogisticProblem, QuadraticProblem, RidgeProblem, TikhonovFourierProblem, TVDenoisingProblem,
                        logistic_problem, quadratic_problem, ridge_problem, tikhonov_fourier_problem,
                        tv_denoising_problem)

__all__ = ["maid", "hypergradient", "Hypergradient", "BilevelResult", "BilevelProblem", "Constants", "CONSTANTS",
           "error_bound", "fista", "BilevelRidge", "BilevelLogisticRegression", "quadratic_problem", "ridge_problem",
           "tikhonov_fourier_problem", "logistic_problem", "tv_denoising_problem", "QuadraticProblem", "RidgeProblem",
           "TikhonovFourierProblem", "LogisticProblem", "TVDenoisingProblem"]
