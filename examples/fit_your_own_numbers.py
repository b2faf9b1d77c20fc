"""Fit a threshold to numbers you measured elsewhere (no fine-tuning needed).

Run: python examples/fit_your_own_numbers.py
"""

import numpy as np

from dataquality_thresholds import ThresholdFitter

# Accuracy (correct answers out of 200 eval items) of models fine-tuned on data with
# these shares of correct examples, three seeds each.
fraction = np.repeat([0.1, 0.25, 0.5, 0.75, 0.9, 1.0], 3)
correct = np.array(
    [61, 58, 66, 72, 80, 75, 121, 130, 126, 168, 171, 165, 176, 174, 179, 178, 181, 177]
)
n = np.full(correct.shape, 200)

fit = ThresholdFitter(method="logistic", recovery=0.9, seed=0).fit(fraction, correct, n=n)
print(fit.summary())
lo, hi = fit.conf_int()
print(
    f"\nthe model recovers 90% of its clean performance at {fit.threshold:.2f} correct data "
    f"(95% interval {lo:.2f} to {hi:.2f}); {fit.position}"
)

# The same numbers with a changepoint model, and the automatic choice between them.
for method in ("changepoint", "auto"):
    other = ThresholdFitter(method=method, seed=0).fit(fraction, correct, n=n)
    print(f"{method:12s} threshold {other.threshold:.3f}  interval {other.conf_int()}")
