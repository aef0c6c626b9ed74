"""A primal-dual interior-point method for the concave flighting problem, structured for its shape.

    max f(x)  s.t.  lo ≤ x ≤ hi,   L_g ≤ Σ_{(s,t)∈g} x_st ≤ U_g  (g: total budget, periods, channels, brands)

f couples weeks only within a series (carry-over: its Hessian is Lᵀ·D·L per series, L the adstock's
lower-triangular Toeplitz matrix), so the Newton matrix is block diagonal, one T × T block per series
(barrier terms on its diagonal), plus the few linking totals. Each step inverts the S blocks at once
(batched LAPACK, O(S·T³)) and solves the small m × m Schur complement of the totals: the dual
decomposition of the budget constraints, done exactly inside Newton's method. Mehrotra's
predictor-corrector sets the centering; a fraction-to-the-boundary rule keeps the iterates interior.
A step is halved only when it blows the KKT residual up: a stricter (Armijo) test on that residual
stalled the steps at ½ while a channel's weeks went to zero on a Hill curve with n < 1, whose
curvature near no adstock no quadratic model follows; unguarded, those weeks converge in a few steps.
A range total becomes Σ x − r = 0 with a slack r inside [L, U]; sides implied by the weekly bounds are
dropped (they can never bind), and entries with lo = hi (blackouts, fully booked weeks) leave the
problem. Everything is scaled: spend by budget / free entries, outcome so that marginals are near 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.flighting.model import WeeklyModel
from core.flighting.problem import Group

TINY = 1e-300
BACKTRACK = 100.0  # a step is halved only if it multiplies the KKT residual by more than this (or breaks it)


@dataclass
class IpmResult:
    x: np.ndarray  # plan, original units
    prices: np.ndarray  # per input group: d outcome / d total (0 when the total does not bind)
    iterations: int
    converged: bool
    mu: float


class _Scaled:
    """The problem in scaled units with the fixed entries removed from every total."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, groups: list[Group], scale: float) -> None:
        self.xs = scale
        self.fixed = (hi - lo) <= 1e-12 * np.maximum(1.0, np.abs(lo))
        self.free = ~self.fixed
        self.lo, self.hi = lo / scale, np.where(self.free, hi / scale, lo / scale)
        self.fin_u = self.free & np.isfinite(self.hi)
        keep, eq, bl, bu = [], [], [], []
        for i, g in enumerate(groups):
            m = g.mask & self.free
            base = float(self.lo[g.mask & self.fixed].sum())
            lo_g, hi_g = g.lo / scale - base, g.hi / scale - base
            if g.lo == g.hi:
                keep.append(i), eq.append(True), bl.append(lo_g), bu.append(hi_g)
                continue
            lo_g = lo_g if lo_g > self.lo[m].sum() * (1 + 1e-12) else -np.inf  # implied by the weekly floors
            hi_g = hi_g if hi_g < self.hi[m].sum() * (1 - 1e-12) else np.inf  # implied by the weekly caps
            if np.isfinite(lo_g) or np.isfinite(hi_g):
                keep.append(i), eq.append(False), bl.append(lo_g), bu.append(hi_g)
        self.keep = np.array(keep, dtype=int)
        self.eq = np.array(eq, dtype=bool)
        self.gm = np.array([groups[i].mask & self.free for i in keep], dtype=float).reshape(len(keep), *lo.shape)
        self.bl, self.bu = np.array(bl, dtype=float), np.array(bu, dtype=float)
        self.rng = ~self.eq  # range rows: slack r with bounds
        self.r_lo, self.r_hi = self.bl[self.rng], self.bu[self.rng]

    def start(self, seed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A point strictly inside the weekly bounds and the range totals (the equalities may not hold yet);
        with a `seed` plan (original units), 90 % of the way to it."""
        n_free = max(int(self.free.sum()), 1)
        total = self.bl[self.eq][0] if self.eq.any() else float(n_free)
        room = max((total - float(self.lo[self.free].sum())) / n_free, 1e-6)
        cap = np.minimum(self.hi, self.lo + 2.0 * room)
        x = np.where(self.free, self.lo + 0.5 * (cap - self.lo), self.lo)
        if seed is not None:
            x = 0.1 * x + 0.9 * np.clip(seed / self.xs, self.lo, self.hi)
        v = np.einsum("gst,st->g", self.gm, x)[self.rng]
        lo, hi = self.r_lo, self.r_hi
        both = np.isfinite(lo) & np.isfinite(hi)
        pad = np.maximum(1.0, 0.1 * np.abs(v))
        with np.errstate(invalid="ignore"):  # inf − inf on the sides without a bound, discarded by the where
            r = np.where(both, np.clip(v, lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo)),
                         np.where(np.isfinite(lo), np.maximum(v, lo + pad), np.minimum(v, hi - pad)))
        return x, r


class _State:
    """Primal-dual iterate: plan x, slacks r, multipliers y of the totals, bound duals z."""

    def __init__(self, p: _Scaled, x: np.ndarray, r: np.ndarray) -> None:
        self.x, self.r, self.y = x, r, np.zeros(len(p.keep))
        self.zl = np.where(p.free, 1.0 / np.maximum(x - p.lo, 1e-300), 0.0)
        self.zu = np.where(p.fin_u, 1.0 / np.maximum(p.hi - x, 1e-300), 0.0)
        self.zrl = np.where(np.isfinite(p.r_lo), 1.0 / np.maximum(r - p.r_lo, 1e-300), 0.0)
        self.zru = np.where(np.isfinite(p.r_hi), 1.0 / np.maximum(p.r_hi - r, 1e-300), 0.0)

    def moved(self, d: dict, a: float) -> _State:
        out = object.__new__(_State)
        for k in ("x", "r", "y", "zl", "zu", "zrl", "zru"):
            setattr(out, k, getattr(self, k) + a * d[k])
        return out


def _gaps(p: _Scaled, s: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distances to every finite bound (inf where none, so that their terms vanish).

    A total near its cap (tens in scaled units) can round its last gap to exactly 0; TINY stands in for it.
    """
    dl = np.where(p.free, np.maximum(s.x - p.lo, TINY), np.inf)
    du = np.where(p.fin_u, np.maximum(p.hi - s.x, TINY), np.inf)
    return dl, du, np.maximum(s.r - p.r_lo, TINY), np.maximum(p.r_hi - s.r, TINY)


def _residuals(p: _Scaled, s: _State, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Dual residual of the plan, of the slacks, primal residual of the totals, mean complementarity."""
    gy = np.einsum("g,gst->st", s.y, p.gm)
    rd = np.where(p.free, g - gy - s.zl + s.zu, 0.0)
    rdr = s.y[p.rng] - s.zrl + s.zru
    gx = np.einsum("gst,st->g", p.gm, s.x)
    rp = gx - np.where(p.eq, p.bl, 0.0)
    rp[p.rng] -= s.r
    dl, du, rl, ru = _gaps(p, s)
    fl, fu = np.isfinite(rl), np.isfinite(ru)
    comp = [dl[p.free] * s.zl[p.free], du[p.fin_u] * s.zu[p.fin_u], rl[fl] * s.zrl[fl], ru[fu] * s.zru[fu]]
    c = np.concatenate(comp)
    return rd, rdr, rp, float(c.mean()) if c.size else 0.0


def _to_boundary(v: np.ndarray, dv: np.ndarray, gap: np.ndarray, sign: float) -> float:
    """Largest step in [0, 1] keeping gap + sign·α·dv ≥ 0 (gap = distance to the bound)."""
    m = (sign * dv < 0) & np.isfinite(gap)
    if not m.any():
        return 1.0
    return float(min(1.0, np.min(gap[m] / (-sign * dv[m]))))


class _Newton:
    """One factorization of the Newton matrix at an iterate, reused by the predictor and the corrector."""

    def __init__(self, p: _Scaled, s: _State, g: np.ndarray, h: np.ndarray) -> None:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # terms of absent bounds are 0/inf
            self._factor(p, s, g, h)

    def _factor(self, p: _Scaled, s: _State, g: np.ndarray, h: np.ndarray) -> None:
        self.p, self.s, self.g = p, s, g
        self.dl, self.du, self.rl, self.ru = _gaps(p, s)
        sig = np.where(p.free, s.zl / self.dl + s.zu / self.du, 0.0)
        k = np.where(p.free[:, :, None] & p.free[:, None, :], h, 0.0)
        idx = np.arange(k.shape[1])
        k[:, idx, idx] += np.where(p.free, sig, 1.0)
        d = 1.0 / np.sqrt(np.abs(k[:, idx, idx]))  # Jacobi scaling before inverting each block
        self.kinv = np.linalg.inv(k * d[:, :, None] * d[:, None, :]) * d[:, :, None] * d[:, None, :]
        self.w = np.einsum("stu,gsu->gst", self.kinv, p.gm)
        self.sig_r = np.where(np.isfinite(self.rl), s.zrl / self.rl, 0.0) + np.where(
            np.isfinite(self.ru), s.zru / self.ru, 0.0)
        m = np.einsum("gst,hst->gh", p.gm, self.w)
        rows = np.flatnonzero(p.rng)
        m[rows, rows] += 1.0 / self.sig_r
        self.m = m

    def direction(self, rp: np.ndarray, tau: tuple) -> dict:
        """Newton direction for complementarity targets tau = (τl, τu, τrl, τru) (0: affine, σμ: centred)."""
        p, s = self.p, self.s
        tl, tu, trl, tru = tau
        gy = np.einsum("g,gst->st", s.y, p.gm)
        with np.errstate(invalid="ignore"):
            rho_x = np.where(p.free, self.g - gy - tl / self.dl + np.where(p.fin_u, tu / self.du, 0.0), 0.0)
            rho_r = s.y[p.rng] - np.where(np.isfinite(self.rl), trl / self.rl, 0.0) + np.where(
                np.isfinite(self.ru), tru / self.ru, 0.0)
        k_rho = np.einsum("stu,su->st", self.kinv, rho_x)
        rhs = np.einsum("gst,st->g", p.gm, k_rho) - rp
        rhs[p.rng] -= rho_r / self.sig_r
        dy = np.linalg.solve(self.m, rhs)
        dx = np.einsum("g,gst->st", dy, self.w) - k_rho
        dr = (-dy[p.rng] - rho_r) / self.sig_r
        with np.errstate(invalid="ignore"):
            dzl = np.where(p.free, (tl - self.dl * s.zl - s.zl * dx) / self.dl, 0.0)
            dzu = np.where(p.fin_u, (tu - self.du * s.zu + s.zu * dx) / self.du, 0.0)
            dzrl = np.where(np.isfinite(self.rl), (trl - self.rl * s.zrl - s.zrl * dr) / self.rl, 0.0)
            dzru = np.where(np.isfinite(self.ru), (tru - self.ru * s.zru + s.zru * dr) / self.ru, 0.0)
        return {"x": dx, "r": dr, "y": dy, "zl": dzl, "zu": dzu, "zrl": dzrl, "zru": dzru}

    def step(self, d: dict, frac: float) -> float:
        s = self.s
        a = min(_to_boundary(s.x, d["x"], self.dl, 1.0), _to_boundary(s.x, d["x"], self.du, -1.0),
                _to_boundary(s.r, d["r"], self.rl, 1.0), _to_boundary(s.r, d["r"], self.ru, -1.0))
        for z, key in ((s.zl, "zl"), (s.zu, "zu"), (s.zrl, "zrl"), (s.zru, "zru")):
            a = min(a, _to_boundary(z, d[key], z, 1.0))
        return min(1.0, frac * a)


def solve_ipm(model: WeeklyModel, lo: np.ndarray, hi: np.ndarray, groups: list[Group], *, tol: float = 1e-10,
              max_iter: int = 120, seed: np.ndarray | None = None, concave_part: bool = False,
              step: Callable[[int], None] | None = None) -> IpmResult:
    """The optimal plan of a concave `model` under the weekly bounds and the totals.

    `seed` starts near a given plan; `concave_part` keeps only the concave part of the curvature (for
    S-shaped curves: the steps then head for a local KKT point, with no guarantee). `step(i)` is called
    before each Newton step: a job reports progress there, and a cancelled one raises out of it.
    """
    total = next((g for g in groups if g.lo == g.hi and g.mask.all()), None)
    n_free = max(int(((hi - lo) > 0).sum()), 1)
    p = _Scaled(lo, hi, groups, (total.lo if total else float(np.nansum(np.where(np.isfinite(hi), hi, lo)))) / n_free
                or 1.0)
    x0, r0 = p.start(seed)
    g0 = model.gradient(x0 * p.xs)
    fs = p.xs * float(np.median(np.abs(g0[p.free]))) if p.free.any() else 1.0
    fs = fs if np.isfinite(fs) and fs > 0 else 1.0
    s = _State(p, x0, r0)

    def grad(st: _State) -> np.ndarray:
        with np.errstate(over="ignore"):  # an infinite slope (Hill n < 1, no adstock) only in a fixed week
            return np.where(p.free, -model.gradient(st.x * p.xs) * p.xs / fs, 0.0)

    g = grad(s)
    converged, it, mu = False, 0, np.inf
    best = (np.inf, s, np.inf)
    scale_p = np.maximum(1.0, np.abs(np.where(p.eq, p.bl, 0.0)))
    for it in range(1, max_iter + 1):
        if step is not None:
            step(it)
        rd, rdr, rp, mu = _residuals(p, s, g)
        err = max(np.abs(rd).max(initial=0), np.abs(rdr).max(initial=0), np.max(np.abs(rp) / scale_p, initial=0))
        if np.isfinite(err) and max(err, mu) < best[0]:
            best = (max(err, mu), s, mu)
        if mu <= 1e-2 * tol and err <= tol:
            converged = True
            break
        if it > 5 and best[0] < 1e-6 and not max(err, mu) < 1e3 * best[0]:
            break  # rounding has taken over: the best iterate is as good as it gets
        gr, hs = model.hessian(s.x * p.xs, concave_part)
        with np.errstate(over="ignore"):
            nt = _Newton(p, s, np.where(p.free, -gr * p.xs / fs, 0.0), -hs * p.xs**2 / fs)
        zero = (0.0, 0.0, 0.0, 0.0)
        aff = nt.direction(rp, zero)
        a_aff = nt.step(aff, 1.0)
        st_aff = s.moved(aff, a_aff)
        mu_aff = _residuals(p, st_aff, g)[3]  # complementarity only: the gradient is not needed
        sigma = float(np.clip((mu_aff / mu) ** 3, 1e-6, 1.0)) if mu > 0 else 0.0
        tau = (sigma * mu - aff["x"] * aff["zl"], sigma * mu + aff["x"] * aff["zu"],
               sigma * mu - aff["r"] * aff["zrl"], sigma * mu + aff["r"] * aff["zru"])
        d = nt.direction(rp, tau)
        a = nt.step(d, min(0.9999, max(0.99, 1.0 - mu)))  # never all the way: a gap of exactly 0 breaks
        merit = _merit(rd, rdr, rp, mu)
        for _ in range(10):
            cand = s.moved(d, a)
            g_new = grad(cand)
            new = _merit(*_residuals(p, cand, g_new))
            if (np.isfinite(new) and new <= BACKTRACK * merit) or a < 1e-3:
                break
            a *= 0.5
        s, g = cand, g_new
    _, s, mu = best
    x = np.where(p.free, s.x, p.lo) * p.xs
    prices = np.zeros(len(groups))
    prices[p.keep] = -s.y * fs / p.xs
    return IpmResult(x, prices, it, converged, mu)


def _merit(rd: np.ndarray, rdr: np.ndarray, rp: np.ndarray, mu: float) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(rd) + np.linalg.norm(rdr) + np.linalg.norm(rp) + mu)
