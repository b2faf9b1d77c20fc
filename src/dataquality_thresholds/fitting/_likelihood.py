"""Log-likelihoods and information criteria that compare the curves on the same data.

Every candidate curve is scored on the same likelihood of the same data: on counts
the binomial log-likelihood of the counts at the curve's fitted means (whatever the
curve was fitted by), on run-level scores the Gaussian one of the run means. So the
logistic's and a changepoint's AIC differ by how well each curve fits, not by what
the likelihood is.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

__all__ = ["MU_EPS", "aicc", "binomial_loglik", "ic_scores"]

#: Fitted means are clipped into ``[MU_EPS, 1 - MU_EPS]``: a straight-line piece can
#: leave (0, 1) where the data do not, and a probability of exactly 0 or 1 for an
#: observed outcome would make the log-likelihood infinite.
MU_EPS = 1e-10


def binomial_loglik(k: np.ndarray, n: np.ndarray, w: np.ndarray, mu: np.ndarray) -> float:
    """Weighted binomial log-likelihood ``sum w log Bin(k | n, mu)`` over the runs.

    The same expression as the logistic's own (``_logistic.fit_logistic``), so a curve
    fitted by least squares (the changepoints) is scored on the same scale.
    """
    m = np.clip(np.asarray(mu, dtype=float), MU_EPS, 1.0 - MU_EPS)
    return float(
        np.sum(
            w
            * (
                gammaln(n + 1)
                - gammaln(k + 1)
                - gammaln(n - k + 1)
                + xlogy(k, m)
                + xlogy(n - k, 1 - m)
            )
        )
    )


def aicc(loglik: float, k: int, nobs: int, scale: float = 1.0) -> float:
    """AICc ``-2 loglik / scale + 2k + 2k(k+1)/(nobs-k-1)``.

    ``scale`` > 1 gives QAICc (the log-likelihood divided by the overdispersion).
    Infinite when undefined (too few runs for ``k``, or no log-likelihood); minus
    infinity for a perfect fit (Gaussian residuals of exactly 0).
    """
    if np.isnan(loglik) or nobs - k - 1 <= 0:
        return float("inf")
    if loglik == np.inf:
        return -float("inf")
    return -2.0 * loglik / scale + 2 * k + 2 * k * (k + 1) / (nobs - k - 1)


def ic_scores(
    logliks: list[float], ks: list[int], nobs: int, c_hat: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (AICc, or QAICc when ``c_hat`` > 1) and Akaike weights of candidates.

    With ``c_hat`` > 1 each model's parameter count grows by one for the estimated
    dispersion (Burnham and Anderson 2002, sec. 2.5). Candidates whose score is not
    finite get weight 0 (a perfect fit takes all the weight); if none is finite, all
    get equal weight.
    """
    c = max(float(c_hat), 1.0) if np.isfinite(c_hat) else 1.0
    extra = 1 if c > 1.0 else 0
    s = np.array([aicc(ll, k + extra, nobs, c) for ll, k in zip(logliks, ks, strict=True)])
    if np.any(s == -np.inf):
        rel = (s == -np.inf).astype(float)
    elif np.any(np.isfinite(s)):
        ok = np.isfinite(s)
        rel = np.where(ok, np.exp(-0.5 * (np.where(ok, s, 0.0) - s[ok].min())), 0.0)
    else:
        rel = np.ones(s.size)
    return s, rel / rel.sum()
