"""The generative model of default: true 12-month PD of an application.

    logit(true_pd) = INTERCEPT + SCALE * g(observable features) + 0.8 * eps + 1.6 * fraud

where `g` is a sum of non-linear terms and interactions of features the platform can compute
from the raw tables (data/README.md gives their exact definitions), `eps` ~ N(0,1) is risk
nobody can observe and `fraud` is hidden individual fraud (only partly visible through the
identity checks, GPS and photo signals). Fraud-ring applications have true_pd 0.55-0.75 whatever
their features say: they are meant to be caught by rules on shared devices and contacts.

Shapes chosen so that a GBM beats a linear scorecard: thresholds (worst status, third-party
score, inquiries), saturation (SMS counts), U-shaped age, and interactions (GPS x channel,
third-party score x channel, LTV x installment-to-income, utilisation x recent inquiries,
worst status x open loans, thin file x youth, term x youth, photos x GPS, lenders x profile,
self-employment x income). On the generator's own features (60k customers, seed 3) a LightGBM
reached AUC 0.81 against 0.79 for a logistic regression on a random split; the oracle is ~0.86.
INTERCEPT and SCALE are calibrated to an overall 12-month bad rate of about 5.5%.
"""

from __future__ import annotations

import numpy as np

INTERCEPT = -4.45
SCALE = 0.45
WORST_STATUS_EFFECT = np.array([0.0, 0.1, 0.3, 1.3, 1.8, 2.0, 2.1, 2.2])


def _nz(x: np.ndarray, fill: float) -> np.ndarray:
    return np.where(np.isnan(x), fill, x)


def logit_terms(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each named additive term of g(features); summing them gives the observable logit."""
    gps = f["gps_share_declared_city"]
    new = f["channel_new"].astype(float)
    inq3 = f["bureau_inquiries_3m"]
    util = _nz(f["bureau_card_utilisation"], 0.3)
    ltv, iti, age, term = f["ltv"], f["installment_to_income"], f["age"], f["term_months"]
    thin = np.isnan(f["bureau_months_since_oldest"]) | (
        _nz(f["bureau_months_since_oldest"], 0) < 12
    )
    young, old = age < 25, age >= 55
    low_income = f["monthly_income"] < 8_000
    return {
        "sms_overdue": 0.45 * np.log1p(f["sms_overdue_90d"]),
        "sms_collection": 0.55 * np.log1p(f["sms_collection_180d"]),
        # many lenders at once is a warning for the young and low earners, less for others
        "sms_platforms_x_profile": 0.35
        * np.minimum(f["sms_platforms_180d"], 5)
        * (young | low_income),
        "contacts_blacklist": 0.55 * np.minimum(f["contacts_blacklist"], 3),
        "contacts_loan_company": 0.20 * np.log1p(f["contacts_loan_company"]),
        # living elsewhere than declared matters mostly in the sub-dealer channel
        "gps_x_channel": np.clip((0.6 - gps) / 0.6, 0, 1) * np.where(new > 0, 3.0, 0.3),
        # photos far from home only count when the GPS also disagrees with the declared city
        "photos_x_gps": 2.4 * f["photo_far_share"] * (gps < 0.6),
        "id_card": 1.4 * f["id_fail"],
        "bank_card": 0.8 * f["bank_mismatch"],
        "liveness": 3.0 * np.maximum(0.75 - f["liveness_score"], 0) + 0.2 * f["liveness_fails"],
        "inquiries": 0.8 * (inq3 >= 3) + 0.4 * (inq3 >= 5) + 0.3 * (f["bureau_inquiries_12m"] >= 8),
        "overdue_amount": 0.35 * np.log1p(f["bureau_overdue_amount"] / 1000),
        # maxed-out cards are dangerous when the person is also shopping for credit
        "utilisation_x_inquiries": 2.4 * (util > 0.8) * np.minimum(inq3, 4) / 4
        + 0.3 * (util > 0.9),
        "thin_file_x_age": np.where(thin, np.where(young, 1.2, -0.1), 0.0),
        "open_loans": 0.12 * np.minimum(f["bureau_open_loans"], 4),
        # stretched budget only hurts when there is also little equity in the car
        "ltv_x_iti": 2.5
        * np.clip((iti - 0.3) / 0.3, 0, 1.5)
        * np.clip((ltv - 0.72) / 0.15, 0, 1.2),
        "age": 0.8 * (age < 23) + 0.4 * ((age >= 23) & (age < 27)) + 0.7 * old,
        "term_x_age": np.select([term == 12, term == 36], [-0.3, 0.1], 0.0)
        + 0.6 * ((term == 36) & young),
        # the fintech score was trained on the old channels and says little in the new one
        "thirdparty_x_channel": (
            1.2 * (f["tp_score"] < 560) + 0.6 * (f["tp_score"] < 500) - 0.4 * (f["tp_score"] > 720)
        )
        * np.where(new > 0, 0.2, 1.0)
        + 0.6 * f["tp_blacklist"]
        + 0.5 * (f["tp_platforms_90d"] >= 4),
        # old delinquencies weigh double for people who still carry several loans
        "worst_status_x_loans": WORST_STATUS_EFFECT[
            np.clip(f["bureau_worst_status_24m"], 0, 7).astype(int)
        ]
        * np.where(f["bureau_open_loans"] >= 2, 1.6, 0.6),
        "channel": 0.25 * new,
        # self-employed: risky on low income, safer on high income
        "profile": np.where(f["employment"] == 1, np.where(low_income, 0.6, -0.4), 0.0)
        - 0.4 * (f["employment"] == 2)
        - 0.15 * (f["marital"] == 1)
        - 0.2 * (f["education"] >= 3)
        - 0.2 * np.log(f["monthly_income"] / 10_000),
    }


def true_pd(
    f: dict[str, np.ndarray],
    eps: np.ndarray,
    fraud: np.ndarray,
    ring: np.ndarray,
    ring_u: np.ndarray,
) -> np.ndarray:
    """True probability of going 90+ days past due within 12 months of disbursement."""
    g = sum(logit_terms(f).values())
    x = INTERCEPT + SCALE * g + 0.8 * eps + 1.6 * fraud
    pd = 1.0 / (1.0 + np.exp(-x))
    return np.where(ring, 0.55 + 0.2 * ring_u, pd)
