"""Simulation-based estimation: the method of simulated moments with common random numbers.

    sim estimate [seeds=4] [iterations=4] [before=2024-01-01] [out=results/estimate]
                 [from_priors=false] [promote=false] ['model_overrides=[...]'] [launcher=parallel]

The parameters that decide the answers (how app holdings overlap, how much discovery buying
displaces planned buying, how fast marketplaces answer with content, how many firms go online,
besides the storefronts' brand constants) are estimated from the public record through 2023
(``TARGETS``, each with its source and a tolerance). Every evaluation runs ``history`` and its
same-seed ``no_policy`` on the same seeds (common random numbers), so differences between
parameter points are not seed noise. The estimate is a damped Gauss-Newton minimum of

    Q(theta) = sum_k ((m_k(theta) - target_k) / tolerance_k)^2,

with the Jacobian of the moments by finite differences (same seeds). The same Jacobian gives the
identification table (which target moves when a parameter moves) and the sandwich covariance of
the estimate, ``V = H^-1 J'W (S_data + S_sim / seeds) W J H^-1`` with ``H = J'WJ`` and
``W = diag(1 / tolerance^2)``, where ``S_data`` takes each tolerance as the target's standard
error and ``S_sim`` is the seed-to-seed covariance of the moments, measured. ``before`` keeps
only targets observed before a date; with ``from_priors=true`` the backtest starts every parameter
but the level constants from its stated prior, so nothing fitted to later data leaks in, and the
parameters its targets cannot pin stay there.

The search is iterative (each step needs the moments of the step before), so it cannot be one
sweep. Each batch of evaluations is one fan-out through Hydra's launchers
(``sim.experiments.fanout``): a point's seeds, or every column of the Jacobian at once, as jobs of
one multirun into ``runs_dir/batch_NNN`` (the noise floor's seeds into ``runs_dir/noise``).
Every job is one seed at one point, so a rerun of the same estimate skips the finished jobs and
resumes where it stopped, and ``launcher=slurm`` runs each batch on a cluster.

Writes ``estimate.json`` (estimate, standard errors, Jacobian, noise floor, moments) to ``out``;
``promote=true`` also writes the estimate into ``conf/market/default.yaml``, so that ``sim run``
uses it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.fanout import Launch, check_launch, fan_out, helps
from sim.schema.config import ConfigError, config_value
from sim.schema.packaged import config_dir
from sim.schema.tables import annual_total_gmv_usd_bn
from sim.studies.moments import calibration_targets, record_moments

ESTIMATION_END = "2024-03-18"  # the last target is 2023; the pilot's dates must be in the run


@dataclass(frozen=True)
class Parameter:
    key: str  # dotted config key
    # identity | log | logit | unit (a share clipped to [0, 1]): the scale of steps and errors
    transform: str
    step: float  # finite-difference step on that scale
    prior: float  # the stated value before any data (used where no target can pin it)
    meaning: str


@dataclass(frozen=True)
class Target:
    name: str  # moment name (sim.studies.moments.record_moments)
    value: float
    tolerance: float  # standard error given to the target; also the validation band's half-width
    observed_by: str  # date by which the figure was observable (for the backtest)
    source: str


def _record(metric: str, period: str, platform: str = "all") -> pd.Series:
    t = calibration_targets()
    return t[(t.metric == metric) & (t.period == period) & (t.platform == platform)].iloc[0]


def _row(metric: str, period: str, platform: str = "all") -> float:
    return float(_record(metric, period, platform).value)


def targets() -> list[Target]:
    """The public record through 2023, as moments with tolerances and sources."""
    out = [
        Target(
            f"share_2022_{name}",
            _row("gmv_share", "2022", name) / 100,
            0.015,
            "2023-01-01",
            f"Momentum Works 2023: {name} {_row('gmv_share', '2022', name):g}% of 2022 GMV",
        )
        for name in ("Shopee", "Tokopedia", "Lazada", "Bukalapak", "TikTok Shop", "Blibli")
    ]
    shopee_note = str(_record("msme_share_of_sellers", "2021", "Shopee").note)
    found = re.search(r"MSME products were ([0-9.]+)% of sales", shopee_note)
    if found is None:
        raise ValueError(f"calibration_targets.csv: no MSME share of sales in {shopee_note!r}")
    msme_sales = float(found.group(1))
    out.append(
        Target(
            "msme_share_2021_Shopee",
            msme_sales / 100,
            0.05,
            "2022-01-01",
            f"Shopee statement (CNN Indonesia): MSME products {msme_sales:g}% of sales",
        )
    )
    out.append(
        Target(
            "gmv_2022_usd_bn",
            _row("gmv_total", "2022"),
            5.0,
            "2023-01-01",
            "Momentum Works 2023: US$52 bn online GMV in 2022",
        )
    )
    out.append(
        Target(
            "share_2023Q3_TikTok Shop",
            _row("gmv_share", "2023Q3", "TikTok Shop") / 100,
            0.025,
            "2023-10-01",
            "Bloomberg Intelligence: 10-15% before the ban",
        )
    )
    out.append(
        Target(
            "gmv_growth_2023",
            _row("gmv_growth", "2023") / 100,
            0.03,
            "2024-01-01",
            "Momentum Works 2024: online GMV +3.7% in 2023",
        )
    )
    out.append(
        Target(
            "ban_shopee_vs_no_policy",
            _row("ban_diversion", "2023-10", "Shopee") / 100,
            0.08,
            "2023-12-13",
            "Compas FMCG/beauty panel: Shopee sales +25.7% after TikTok Shop closed",
        )
    )
    tokopedia = _row("gmv_sea", "2023", "Tokopedia") / _row("gmv_sea", "2022", "Tokopedia") - 1.0
    out.append(
        Target(
            "tokopedia_growth_2023",
            tokopedia,
            0.05,
            "2024-01-01",
            "Momentum Works 2024: Tokopedia GMV US$18.4 bn -> 16.3 bn",
        )
    )
    out.append(
        Target(
            "msmes_online_end_2023_m",
            _row("msme_digital", "2023-12"),
            3.0,
            "2024-01-01",
            "KemenKopUKM: 27 M MSMEs onboarded to digital channels",
        )
    )
    return out


# Level constants: each is matched to one level target by a log-share contraction (as in BLP)
# before the Gauss-Newton steps, which then move every parameter together.
LEVELS = {
    "market.platforms.shopee.brand_utility": "share_2022_Shopee",
    "market.platforms.tokopedia.brand_utility": "share_2022_Tokopedia",
    "market.platforms.lazada.brand_utility": "share_2022_Lazada",
    "market.platforms.bukalapak.brand_utility": "share_2022_Bukalapak",
    "market.platforms.blibli.brand_utility": "share_2022_Blibli",
    "market.platforms.tiktok_shop.adoption_innovation_per_week": "share_2022_TikTok Shop",
    "market.shoppers.offline_utility": "gmv_2022_usd_bn",
    "market.shoppers.impulse_rate": "share_2023Q3_TikTok Shop",
    "market.msmes.large_capacity_share": "msme_share_2021_Shopee",
}

PARAMETERS = [
    *[
        Parameter(
            f"market.platforms.{key}.brand_utility", "identity", 0.15, 0.5, f"{name}'s brand constant (utils)"
        )
        for key, name in (
            ("shopee", "Shopee"),
            ("tokopedia", "Tokopedia"),
            ("lazada", "Lazada"),
            ("bukalapak", "Bukalapak"),
            ("blibli", "Blibli"),
        )
    ],
    Parameter(
        "market.platforms.tiktok_shop.adoption_innovation_per_week",
        "log",
        0.25,
        0.001,
        "TikTok Shop's Bass innovation (per week)",
    ),
    Parameter("market.shoppers.offline_utility", "identity", 0.15, 0.0, "offline channel's constant (utils)"),
    Parameter(
        "market.shoppers.impulse_rate",
        "log",
        0.2,
        0.2,
        "discovery purchases per week per unit exposure x taste",
    ),
    Parameter(
        "market.shoppers.discovery_weight",
        "log",
        0.25,
        2.0,
        "utils of discovery exposure x taste in the planned choice",
    ),
    Parameter(
        "market.shoppers.habit_weight",
        "log",
        0.25,
        2.0,
        "utils per unit of habit stock (inertia of channel choice)",
    ),
    Parameter(
        "market.shoppers.online_nest_lambda",
        "logit",
        0.4,
        0.5,
        "dissimilarity of the online nest (substitution between storefronts)",
    ),
    Parameter(
        "market.shoppers.link_follow_share",
        "unit",
        0.1,
        0.45,
        "share of blocked discovery demand that follows sellers' links",
    ),
    Parameter(
        "market.shoppers.impulse_displacement",
        "logit",
        0.5,
        0.5,
        "share of a discovery purchase taken from planned spend",
    ),
    Parameter(
        "market.macro.offline_restriction_utility",
        "identity",
        0.2,
        0.0,
        "offline's handicap while COVID-19 restrictions held (utils)",
    ),
    Parameter(
        "market.platforms.shopee.content_cap",
        "log",
        0.3,
        0.4,
        "discovery strength Shopee's content (Shopee Live, Video) can reach",
    ),
    Parameter(
        "market.platforms.tokopedia.content_cap",
        "log",
        0.4,
        0.4,
        "discovery strength Tokopedia's content can reach",
    ),
    Parameter(
        "market.msmes.join_rate", "log", 0.3, 0.004, "weekly base rate at which firms open a storefront"
    ),
    Parameter(
        "market.msmes.large_capacity_share",
        "logit",
        0.3,
        0.07,
        "large firms' share of sellers' starting capacity",
    ),
]


def to_free(p: Parameter, value: float) -> float:
    if p.transform == "log":
        return math.log(max(value, 1e-12))
    if p.transform == "logit":
        v = min(max(value, 1e-6), 1 - 1e-6)
        return math.log(v / (1 - v))
    if p.transform == "unit":
        return min(max(value, 0.0), 1.0)
    return value


def from_free(p: Parameter, x: float) -> float:
    if p.transform == "log":
        return math.exp(x)
    if p.transform == "logit":
        return 1.0 / (1.0 + math.exp(-x))
    if p.transform == "unit":
        # A share on its own scale, held in [0, 1]: unlike the logit, its Jacobian does not
        # vanish near a bound, so a share the data push to 0 or 1 still reads as identified.
        return min(max(x, 0.0), 1.0)
    return x


def within_bounds(params: list[Parameter], x: np.ndarray) -> np.ndarray:
    """``x`` with every share on its own scale held in [0, 1]: a step past the bound would leave
    the model unchanged but the free value (and so the reported interval) past it."""
    return np.array([to_free(p, from_free(p, float(v))) for p, v in zip(params, x, strict=True)])


def _overrides(theta: dict[str, float]) -> list[str]:
    return [f"{key}={value:.6g}" for key, value in theta.items()]


def seed_moments(seed: int, overrides: Sequence[str]) -> dict[str, float]:
    """One seed's moments: ``history`` and ``no_policy`` to the end of 2023, same seed."""
    from sim.experiments.compose import compose_scenarios
    from sim.experiments.run import simulate_all

    common = [f"seed={seed}", "counterfactual=null", f"end_date={ESTIMATION_END}", *overrides]
    cfg, no_policy_cfg = compose_scenarios(["history", "no_policy"], common)
    # Both at once on the serial launcher (forked, same numbers); in a parallel launcher's
    # worker, whose siblings already fill the cores, their 195 shared weeks (burn-in included)
    # run once and then 25 weeks each (``simulate_all``).
    (history, _), (no_policy, _) = simulate_all([cfg, no_policy_cfg])
    moments = record_moments(history, no_policy)
    moments["gmv_2022_usd_bn"] = float(annual_total_gmv_usd_bn(history, cfg.market.usd_idr).loc[2022])
    return moments


class Simulator:
    """Moments at parameter points, averaged over fixed seeds (common random numbers). Each call
    is one batch: every seed of every point, one fan-out through the launcher."""

    def __init__(
        self,
        seeds: int,
        base: list[str],
        names: list[str],
        runs_dir: Path,
        launch: Launch,
        batch_name: str | None = None,
    ) -> None:
        self.seeds, self.base, self.names = seeds, base, names
        # Each batch into runs_dir/batch_NNN, numbered in the order of the search (the same on
        # a rerun), or always into runs_dir/BATCH_NAME.
        self.runs_dir, self.launch, self.batch_name = runs_dir, launch, batch_name
        self.evaluations = 0
        self.batches = 0

    def per_seed_many(self, thetas: list[dict[str, float]]) -> list[np.ndarray]:
        """Per point, the (seeds, moments) matrix; all points in one batch of jobs."""
        jobs = [
            {"seed": s, "overrides": [*self.base, *_overrides(theta)]}
            for theta in thetas
            for s in range(self.seeds)
        ]
        name = self.batch_name or f"batch_{self.batches:03d}"
        rows = fan_out(
            "sim.studies.estimate.seed_moments", jobs, self.runs_dir / name, self.launch, label="estimate"
        )
        self.batches += 1
        self.evaluations += len(thetas)
        matrix = np.array([[row[n] for n in self.names] for row in rows])
        return [matrix[k * self.seeds : (k + 1) * self.seeds] for k in range(len(thetas))]

    def per_seed(self, theta: dict[str, float]) -> np.ndarray:
        return self.per_seed_many([theta])[0]

    def mean(self, theta: dict[str, float]) -> np.ndarray:
        return self.per_seed(theta).mean(axis=0)

    def means(self, thetas: list[dict[str, float]]) -> list[np.ndarray]:
        return [m.mean(axis=0) for m in self.per_seed_many(thetas)]


def objective(m: np.ndarray, goal: np.ndarray, tol: np.ndarray) -> float:
    return float((((m - goal) / tol) ** 2).sum())


def jacobian(sim: Simulator, params: list[Parameter], x: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """d moments / d free parameters, forward differences on the same seeds (backward for a share
    at its upper bound, where a forward step would not move the model); every column in one
    batch."""
    steps, thetas = [], []
    for i, p in enumerate(params):
        step = p.step
        if p.transform == "unit" and x[i] + step > 1.0:
            step = -step
        xi = x.copy()
        xi[i] += step
        steps.append(step)
        thetas.append(theta_of(params, xi))
    cols = [(m - m0) / step for m, step in zip(sim.means(thetas), steps, strict=True)]
    print(f"  jacobian: {len(params)} columns", file=sys.stderr, flush=True)
    return np.stack(cols, axis=1)


def theta_of(params: list[Parameter], x: np.ndarray) -> dict[str, float]:
    return {p.key: from_free(p, float(v)) for p, v in zip(params, x, strict=True)}


def current_values(params: list[Parameter], base: list[str]) -> np.ndarray:
    from sim.experiments.compose import compose_config

    cfg = compose_config(base)
    return np.array([to_free(p, float(config_value(cfg, p.key))) for p in params])


def contract_levels(
    sim: Simulator,
    params: list[Parameter],
    x: np.ndarray,
    m: np.ndarray,
    names: list[str],
    goal: np.ndarray,
    used: np.ndarray,
    rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Match each level constant to its level target by damped log-ratio updates, holding the
    other parameters: shares respond to a brand constant with elasticity about 1 / lambda, so a
    step of 0.35 of the log error converges without overshooting, unless a level overshoots
    (its error changes sign), which halves its step."""
    index = {p.key: i for i, p in enumerate(params)}
    levels = {key: target for key, target in LEVELS.items() if key in index}
    if not levels:
        return x, m
    # A level whose error changes sign overshot: its gain halves (a storefront whose sellers
    # follow its buyers responds more than 1 / lambda to its constant).
    gain = dict.fromkeys(levels, 0.35)
    last: dict[str, float] = {}
    for r in range(rounds):
        for key, target in levels.items():
            k = names.index(target)
            if not used[k]:
                continue
            ratio = math.log(max(goal[k], 1e-9) / max(m[k], 1e-9))
            if ratio * last.get(key, 0.0) < 0:
                gain[key] /= 2.0
            last[key] = ratio
            # The offline constant works against online GMV, and large firms against the MSME
            # share: more of either, less of its target.
            sign = -1.0 if key.endswith(("offline_utility", "large_capacity_share")) else 1.0
            x[index[key]] += gain[key] * sign * ratio
        m = sim.mean(theta_of(params, x))
        worst = max(
            (
                abs(m[names.index(t)] / goal[names.index(t)] - 1)
                for t in levels.values()
                if used[names.index(t)]
            ),
            default=0.0,
        )
        print(f"  contraction {r + 1}/{rounds}: worst level error {worst:.1%}", file=sys.stderr, flush=True)
        if worst < 0.03:
            break
    return x, m


def estimate(
    seeds: int,
    iterations: int,
    before: str,
    base: list[str],
    out: Path,
    contractions: int = 6,
    noise_seeds: int = 6,
    keys: list[str] | None = None,
    from_priors: bool = False,
    launch: Launch | None = None,
    runs_dir: Path | None = None,
) -> dict:
    """Estimate ``PARAMETERS`` (or the subset ``keys``) from the targets observable before
    ``before``; write and return the result (see the module docstring). The evaluations run
    through ``launch`` (default: the parallel launcher, two processes) into ``runs_dir``
    (default ``out/runs``)."""
    launch = launch or Launch()
    runs_dir = Path(runs_dir) if runs_dir is not None else Path(out) / "runs"
    all_targets = targets()
    used = [t for t in all_targets if t.observed_by <= before]
    names = [t.name for t in all_targets]
    goal = np.array([t.value for t in all_targets])
    tol = np.array([t.tolerance for t in all_targets])
    w_mask = np.array([t.observed_by <= before for t in all_targets])
    params = [p for p in PARAMETERS if keys is None or p.key in keys]
    x = current_values(params, base)
    if from_priors:
        # A backtest must not start from values fitted to the data it then predicts: every
        # parameter but the level constants starts from its stated prior.
        for i, p in enumerate(params):
            if p.key not in LEVELS:
                x[i] = to_free(p, p.prior)
    sim = Simulator(seeds, base, names, runs_dir, launch)
    m = sim.mean(theta_of(params, x))
    x, m = contract_levels(sim, params, x, m, names, goal, w_mask, contractions)
    q = objective(m[w_mask], goal[w_mask], tol[w_mask])
    print(f"after the level contraction Q = {q:.2f}", file=sys.stderr, flush=True)
    jac = jacobian(sim, params, x, m)
    # A parameter that moves no used target by a quarter of its tolerance per unit of its free
    # scale (for a share on the logit scale, 0.45 to 0.69) is not identified by them: it stays
    # at its stated prior, and the backtest says so. Weakly pinned ones carry their large
    # standard errors into the forecast.
    pinned = np.abs(jac[w_mask] / tol[w_mask, None]).max(axis=0) > 0.25
    # Parameters the targets cannot pin go to their stated priors, whatever they started at.
    loose = [i for i, p in enumerate(params) if not pinned[i] and x[i] != to_free(p, p.prior)]
    if loose:
        for i in loose:
            x[i] = to_free(params[i], params[i].prior)
        m = sim.mean(theta_of(params, x))
        q = objective(m[w_mask], goal[w_mask], tol[w_mask])
        print(f"  unpinned parameters at their priors: Q = {q:.2f}", file=sys.stderr, flush=True)
    # Levenberg-Marquardt on the fixed Jacobian: a failed step raises the damping (a shorter
    # step, turned towards steepest descent), a successful one lowers it. With more
    # parameters than binding targets the undamped step runs along directions the targets
    # do not pin; the damping keeps it where the linear model holds.
    damping = 1.0
    limit = 1.5 * np.array([p.step for p in params])[pinned]
    for _ in range(iterations):
        jw = jac[w_mask][:, pinned] / tol[w_mask, None]
        r = (goal[w_mask] - m[w_mask]) / tol[w_mask]
        hess = jw.T @ jw
        accepted = False
        for _attempt in range(3):
            step = np.linalg.solve(
                hess + damping * np.diag(np.diag(hess)) + 1e-9 * np.eye(len(hess)), jw.T @ r
            )
            trial = x.copy()
            trial[pinned] += np.clip(step, -limit, limit)
            trial = within_bounds(params, trial)
            m_trial = sim.mean(theta_of(params, trial))
            q_trial = objective(m_trial[w_mask], goal[w_mask], tol[w_mask])
            print(f"  damping {damping:g}: Q = {q_trial:.2f}", file=sys.stderr, flush=True)
            if q_trial < q:
                x, m, q, accepted = trial, m_trial, q_trial, True
                damping = max(damping / 3.0, 0.01)
                break
            damping *= 10.0
        if not accepted:
            break
        x, m = contract_levels(sim, params, x, m, names, goal, w_mask, 1)
        q = objective(m[w_mask], goal[w_mask], tol[w_mask])
    # The noise floor is measured on more seeds than each evaluation uses.
    noise_sim = Simulator(max(seeds, noise_seeds), base, names, runs_dir, launch, "noise")
    per_seed = noise_sim.per_seed(theta_of(params, x))
    m = per_seed.mean(axis=0)
    q = objective(m[w_mask], goal[w_mask], tol[w_mask])
    evaluations = sim.evaluations

    # Noise floor: the spread of Q, as one evaluation computes it (on ``seeds`` seeds), over
    # resamples of the noise seeds at the estimate.
    rng = np.random.default_rng(0)
    n_noise = per_seed.shape[0]
    boot = [
        objective(per_seed[rng.integers(0, n_noise, seeds)].mean(axis=0)[w_mask], goal[w_mask], tol[w_mask])
        for _ in range(200)
    ]
    sim_cov = np.cov(per_seed.T)
    jw = jac[w_mask][:, pinned] / tol[w_mask, None]
    hess_inv = np.linalg.pinv(jw.T @ jw)
    s_total = np.eye(int(w_mask.sum())) + (sim_cov[np.ix_(w_mask, w_mask)] / seeds) / np.outer(
        tol[w_mask], tol[w_mask]
    )
    cov_pinned = hess_inv @ jw.T @ s_total @ jw @ hess_inv
    cov = np.zeros((len(params), len(params)))
    cov[np.ix_(pinned, pinned)] = cov_pinned
    result = {
        "created": dt.date.today().isoformat(),
        "seeds": seeds,
        "noise_seeds": n_noise,
        "before": before,
        "overrides": base,
        "from_priors": from_priors,
        "evaluations": evaluations,
        "objective": q,
        "objective_noise_sd": float(np.std(boot)),
        "parameters": [
            {
                "key": p.key,
                "meaning": p.meaning,
                "transform": p.transform,
                "estimate": from_free(p, float(x[i])),
                "free": float(x[i]),
                "free_se": float(math.sqrt(max(cov[i, i], 0.0))),
                "pinned": bool(pinned[i]),
                "prior": p.prior,
            }
            for i, p in enumerate(params)
        ],
        "free_covariance": cov.tolist(),
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "tolerance": t.tolerance,
                "source": t.source,
                "observed_by": t.observed_by,
                "used": bool(w_mask[k]),
                "model": float(m[k]),
                "model_seed_sd": float(per_seed[:, k].std(ddof=1)),
            }
            for k, t in enumerate(all_targets)
        ],
        # Identification: change of each target, in tolerances, per unit step of each parameter.
        "jacobian_in_tolerances": {
            p.key: {t.name: float(jac[k, i] * p.step / t.tolerance) for k, t in enumerate(all_targets)}
            for i, p in enumerate(params)
        },
        "used_targets": [t.name for t in used],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimate.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def promote(result: dict, path: Path | None = None) -> Path:
    """Write the estimate into conf/market/default.yaml (the values ``sim run`` uses)."""
    path = path or config_dir() / "market" / "default.yaml"
    text = path.read_text()
    for p in result["parameters"]:
        parts = p["key"].split(".")[1:]  # drop "market"
        value = f"{p['estimate']:.5g}"
        if parts[0] == "platforms":
            pattern = rf"(\n  {parts[1]}:[^\n]*\n(?:    .*\n)*?    {parts[2]}: )[-0-9.e]+"
        else:
            pattern = rf"(\n{parts[0]}:[^\n]*\n(?:  .*\n)*?  {parts[1]}: )[-0-9.e]+"
        text, n = re.subn(pattern, rf"\g<1>{value}", text, count=1)
        if n != 1:
            raise SystemExit(f"error: {p['key']}: not found in {path}")
    path.write_text(text)
    return path


@dataclass
class EstimateConfig(Launch):
    """``sim estimate``: its keys (``Launch`` adds the launcher's)."""

    seeds: int = field(
        default=4, metadata=helps("seeds per evaluation (at least 2: the noise floor needs a spread)")
    )
    iterations: int = field(default=4, metadata=helps("Levenberg-Marquardt steps at most"))
    before: str = field(
        default="2024-01-01",
        metadata=helps("use only targets observable before this date (the backtest: 2023-10-01)"),
    )
    from_priors: bool = field(
        default=False,
        metadata=helps("start every parameter but the level constants from its stated prior (the backtest)"),
    )
    out: str = field(default="results/estimate", metadata=helps("where estimate.json goes"))
    promote: bool = field(
        default=False,
        metadata=helps("also write the estimate into conf/market/default.yaml (what sim run uses)"),
    )
    model_overrides: list[str] = field(
        default_factory=list,
        metadata=helps('overrides of the model config for every run, e.g. ["market.shoppers.n_agents=4000"]'),
    )
    runs_dir: str = field(
        default="results/estimate/runs",
        metadata=helps("the evaluations' job directories (kept: a rerun skips the finished ones)"),
    )


def run(cfg: EstimateConfig) -> int:
    """``sim estimate``: estimate, write ``estimate.json``, and promote it if asked."""
    from sim.experiments.compose import compose_config

    for name in ("seeds", "iterations"):
        if getattr(cfg, name) < 1:
            raise ConfigError(name, f"must be >= 1, got {getattr(cfg, name)}")
    if cfg.seeds < 2:
        raise ConfigError("seeds", "must be at least 2 (the noise floor needs a spread)")
    try:
        dt.date.fromisoformat(cfg.before)
    except ValueError:
        raise ConfigError("before", f"{cfg.before!r} is not a date (YYYY-MM-DD)") from None
    check_launch(cfg)
    compose_config(list(cfg.model_overrides))  # bad overrides fail here, before any run
    out = Path(cfg.out)
    result = estimate(
        cfg.seeds,
        cfg.iterations,
        cfg.before,
        list(cfg.model_overrides),
        out,
        from_priors=cfg.from_priors,
        launch=cfg,
        runs_dir=Path(cfg.runs_dir),
    )
    print(
        f"Q = {result['objective']:.2f} (noise sd {result['objective_noise_sd']:.2f}) after "
        f"{result['evaluations']} evaluations; wrote {out / 'estimate.json'}"
    )
    if cfg.promote:
        print(f"promoted to {promote(result)}")
    return 0
