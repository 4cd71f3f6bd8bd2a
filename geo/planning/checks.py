"""Checks and preview: apply and compose proposals, validate, successors, impact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from geo.coverage import check_coverage
from geo.coverage_report import CoverageReport, Problem
from geo.crs import WGS84_EPSG
from geo.errors import GeometryError
from geo.planning.model import (
    MEASURES,
    Impact,
    NewUnit,
    PlanContext,
    PointSet,
    Proposal,
    UnitImpact,
    Validation,
)
from geo.planning.retiling import (
    _grids,
)

# --------------------------------------------------------------------------------------------
# checking and previewing


def apply(ctx: PlanContext, proposal: Proposal) -> gpd.GeoDataFrame:
    """The parent's grids after the change: columns id (negative temporary ids -1, -2, … for
    added rows), code, name, version (what saving would write) and geometry."""
    g = _grids(ctx)
    removed = {int(i) for i in proposal.removed}
    keep = np.array([int(i) not in removed for i in g.ids], dtype=bool)
    old_version = {str(c): int(v) for c, v, r in zip(g.codes, g.versions, g.ids, strict=True)
                   if int(r) in removed}
    rows_id = [int(i) for i in g.ids[keep]] + [-(j + 1) for j in range(len(proposal.added))]
    codes = [str(c) for c in g.codes[keep]] + [a.code for a in proposal.added]
    names = [str(n) for n in g.names[keep]] + [a.name for a in proposal.added]
    versions = [int(v) for v in g.versions[keep]] + [
        old_version.get(a.code, 0) + 1 for a in proposal.added
    ]
    geoms = list(g.geoms[keep]) + [a.geometry for a in proposal.added]
    return gpd.GeoDataFrame(
        {"id": rows_id, "code": codes, "name": names, "version": versions},
        geometry=gpd.GeoSeries(geoms, crs=WGS84_EPSG),
        crs=WGS84_EPSG,
    )


def applied(ctx: PlanContext, proposal: Proposal) -> PlanContext:
    """The parent as ``proposal`` leaves it, to edit further before saving (a suggested split
    the planner then adjusts, a split followed by a vertex move…): the added grids get the
    temporary ids of :func:`apply` (-1, -2, … in ``proposal.added`` order).  Combine the next
    edit with :func:`compose`."""
    return PlanContext(ctx.parent_id, ctx.parent_code, ctx.parent_name, ctx.parent_geometry,
                       apply(ctx, proposal), ctx.retired_codes)


def compose(ctx: PlanContext, first: Proposal, second: Proposal) -> Proposal:
    """One proposal on ``ctx`` doing ``first`` and then ``second`` (made on
    ``applied(ctx, first)``), so the pair is checked, previewed and saved as one change.

    Temporary ids in ``second`` are resolved: an added grid of ``first`` that ``second``
    retires is dropped, and what replaced it counts as replacing the real grids it took over.
    """
    virtual = {-(j + 1): unit for j, unit in enumerate(first.added)}
    unknown = [i for i in second.removed if i < 0 and i not in virtual]
    if unknown:
        raise GeometryError(f"编辑引用了不存在的临时网格 {unknown} / the edit refers to "
                            f"temporary grids {unknown} that the first change does not add.")
    dropped = {i for i in second.removed if i < 0}

    def real(ids: Sequence[int]) -> tuple[int, ...]:
        out: list[int] = []
        for i in ids:
            out.extend(virtual[i].replaces if i < 0 else (int(i),))
        return tuple(dict.fromkeys(out))

    kept = [unit for i, unit in virtual.items() if i not in dropped]
    later = [NewUnit(u.code, u.name, u.geometry, real(u.replaces)) for u in second.added]
    removed = tuple(dict.fromkeys([*first.removed, *(i for i in second.removed if i > 0)]))
    versions = {**first.versions, **{i: v for i, v in second.versions.items() if i > 0}}
    kind = first.kind if second.kind == first.kind else "edit"
    note = "; ".join(n for n in (first.note, second.note) if n)
    return Proposal(first.parent_id, kind, removed, (*kept, *later), versions, note)


def _same_problem(p: Problem, q: Problem, id_map: dict[int, int]) -> bool:
    if p.kind != q.kind:
        return False
    pg, qg = p.geometry, q.geometry
    if pg is not None and qg is not None and pg.area > 0 and qg.area > 0:
        try:
            inter = shapely.intersection(pg, qg).area
        except shapely.errors.GEOSException:
            return False
        return inter >= 0.9 * pg.area
    if pg is not None and qg is not None and not pg.is_empty and not qg.is_empty:
        return bool(shapely.dwithin(pg, qg, 1e-9))
    return tuple(id_map.get(i, i) for i in p.unit_ids) == q.unit_ids


def validate(ctx: PlanContext, proposal: Proposal, *, sliver_m2: float = 1.0) -> Validation:
    """Coverage check of the parent's grids after the change against before: problems the
    change introduces (errors block saving) and ones that were already there.  Also every new
    grid must be a valid polygon, codes unique and removed ids current children."""
    g = _grids(ctx)
    extra: list[Problem] = []
    current = {int(i) for i in g.ids}
    if proposal.parent_id != ctx.parent_id:
        extra.append(Problem(
            "not_current", "error", (), None, 0.0,
            f"上级不符 / The proposal is for parent {proposal.parent_id}, not "
            f"{ctx.parent_id}; reload the page.",
        ))
    stale = [int(i) for i in proposal.removed if int(i) not in current]
    for rid in stale:
        extra.append(Problem(
            "not_current", "error", (rid,), None, 0.0,
            f"已过期 / Unit {rid} is not a current grid of {ctx.parent_code} (someone changed "
            "it, or it belongs elsewhere); reload the page and redo the edit.",
        ))
    after = apply(ctx, proposal)
    polygonal = np.ones(len(after), dtype=bool)
    n_keep = len(after) - len(proposal.added)
    for j, a in enumerate(proposal.added):
        geom = a.geometry
        if (geom is None or geom.is_empty
                or geom.geom_type not in ("Polygon", "MultiPolygon")):
            polygonal[n_keep + j] = False
            kind = "empty" if geom is None or geom.is_empty else geom.geom_type
            extra.append(Problem(
                "invalid", "error", (-(j + 1),), None, 0.0,
                f"无效 invalid: new grid {a.code} is {kind}, not a polygon; redraw it.",
            ))
    counts = Counter(after["code"])
    for code, n in sorted(counts.items()):
        if n > 1:
            ids = tuple(int(i) for i in after.loc[after["code"] == code, "id"])
            extra.append(Problem(
                "duplicate_code", "error", ids, None, 0.0,
                f"编码重复 / Code {code} is used by {n} grids ({', '.join(map(str, ids))}); "
                "give each grid its own code.",
            ))
    parent = ctx.parent_geometry
    kw = {"sliver_m2": sliver_m2, "parent_id": ctx.parent_id}
    before = check_coverage(ctx.units, parent, **kw) if len(ctx.units) else CoverageReport()
    checked = after[polygonal]
    report = check_coverage(checked, parent, **kw) if len(checked) else CoverageReport()
    introduced: list[Problem] = list(extra)
    existing: list[Problem] = []
    for p in report.problems:
        if any(_same_problem(p, q, {}) for q in before.problems):
            existing.append(p)
        else:
            introduced.append(p)
    report.problems = extra + report.problems
    return Validation(report=report, introduced=introduced, existing=existing)


def successors(ctx: PlanContext, proposal: Proposal) -> dict[int, str | None]:
    """For every removed id, the code of the added grid that carries it on (workers follow):
    the same code when present, else the added grid replacing it with the largest overlap."""
    g = _grids(ctx)
    code_of = {int(i): str(c) for i, c in zip(g.ids, g.codes, strict=True)}
    geom_of = {int(i): geom for i, geom in zip(g.ids, g.geoms, strict=True)}
    added_codes = {a.code for a in proposal.added}
    out: dict[int, str | None] = {}
    for rid in (int(i) for i in proposal.removed):
        if code_of.get(rid) in added_codes:
            out[rid] = code_of[rid]
            continue
        best, best_area = None, -1.0
        old = geom_of.get(rid)
        for a in proposal.added:
            if rid not in a.replaces:
                continue
            ar = float(shapely.intersection(old, a.geometry).area) if old is not None else 0.0
            if ar > best_area:
                best, best_area = a.code, ar
        out[rid] = best
    return out


def assign(added: Sequence[NewUnit] | gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """Code of the grid covering each point (boundary included; several → lowest code, the
    rule of :mod:`geo.assign`), None in none.  Object array of length n."""
    if isinstance(added, gpd.GeoDataFrame):
        codes = [str(c) for c in added["code"]]
        geoms = list(added.geometry.values)
    else:
        codes = [a.code for a in added]
        geoms = [a.geometry for a in added]
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full(len(pts), None, dtype=object)
    if len(pts) == 0 or not codes:
        return out
    x, y = pts[:, 0], pts[:, 1]
    for j in sorted(range(len(codes)), key=lambda j: codes[j]):
        geom = geoms[j]
        if geom is None or geom.is_empty:
            continue
        todo = np.flatnonzero(out == None)  # noqa: E711 - elementwise on an object array
        if len(todo) == 0:
            break
        b = geom.bounds
        cand = todo[(x[todo] >= b[0]) & (x[todo] <= b[2]) & (y[todo] >= b[1]) & (y[todo] <= b[3])]
        if len(cand) == 0:
            continue
        shapely.prepare(geom)
        hit = cand[shapely.intersects_xy(geom, x[cand], y[cand])]
        out[hit] = codes[j]
    return out


def band_status(households: int, band: tuple[int, int]) -> str:
    """'under', 'within' or 'over' the households band (lo, hi) a grid should stay in."""
    lo, hi = band
    if households < lo:
        return "under"
    if households > hi:
        return "over"
    return "within"


def band_for(parent_name: str, urban: tuple[int, int], rural: tuple[int, int]) -> tuple[int, int]:
    """The households band for grids of a parent: urban for communities (name ends with
    社区 or 居委会), else rural (villages)."""
    return urban if str(parent_name or "").strip().endswith(("社区", "居委会")) else rural


def _zeros() -> dict[str, int]:
    return dict.fromkeys(MEASURES, 0)


def impact(ctx: PlanContext, proposal: Proposal, *, households: PointSet, cameras: PointSet,
           incidents: PointSet, workers: dict[int, int], band: tuple[int, int]) -> Impact:
    """Before/after counts per touched code, incidents that change grid and points left in no
    grid.  Points of removed grids and of no grid (-1) are re-assigned with :func:`assign`;
    points of other grids are not touched."""
    g = _grids(ctx)
    code_of = {int(i): str(c) for i, c in zip(g.ids, g.codes, strict=True)}
    name_of = {str(c): str(n) for c, n in zip(g.codes, g.names, strict=True)}
    id_of = {str(c): int(i) for i, c in zip(g.ids, g.codes, strict=True)}
    removed = {int(i) for i in proposal.removed}
    moving_ids = np.array(sorted(removed | {-1}), dtype=np.int64)

    def split_set(ps: PointSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gid = np.asarray(ps.grid_id, dtype=np.int64).ravel()
        xy = np.asarray(ps.xy, dtype=np.float64).reshape(-1, 2)
        move = np.isin(gid, moving_ids)
        new = np.full(len(gid), None, dtype=object)
        new[move] = assign(proposal.added, xy[move])
        return gid, move, new

    hh_gid, hh_move, hh_new = split_set(households)
    hh_w = (np.asarray(households.weight, dtype=np.float64).ravel()
            if households.weight is not None else np.ones(len(hh_gid)))
    cam_gid, cam_move, cam_new = split_set(cameras)
    inc_gid, inc_move, inc_new = split_set(incidents)
    succ = successors(ctx, proposal)

    added_codes = [a.code for a in proposal.added]
    added_names = {a.code: a.name for a in proposal.added}
    removed_codes = [code_of[i] for i in sorted(removed) if i in code_of]
    codes = list(dict.fromkeys(added_codes + removed_codes))
    units: list[UnitImpact] = []
    for code in codes:
        old_id = id_of.get(code)
        before = _zeros()
        if old_id is not None:
            before["households"] = int((hh_gid == old_id).sum())
            before["persons"] = int(round(float(hh_w[hh_gid == old_id].sum())))
            before["cameras"] = int((cam_gid == old_id).sum())
            before["workers"] = int(workers.get(old_id, 0))
            before["open_incidents"] = int((inc_gid == old_id).sum())
        after = _zeros()
        if code in added_names:
            sel = hh_move & (hh_new == code)
            after["households"] = int(sel.sum())
            after["persons"] = int(round(float(hh_w[sel].sum())))
            after["cameras"] = int((cam_move & (cam_new == code)).sum())
            after["open_incidents"] = int((inc_move & (inc_new == code)).sum())
            after["workers"] = int(sum(workers.get(r, 0) for r, c in succ.items() if c == code))
            if old_id is not None and old_id not in removed:  # an untouched grid's own points
                after["households"] += before["households"]
                after["persons"] += before["persons"]
                after["cameras"] += before["cameras"]
                after["open_incidents"] += before["open_incidents"]
                after["workers"] += before["workers"]
            status = "changed" if old_id is not None else "new"
            name = added_names[code]
        else:
            status = "retired"
            name = name_of.get(code, code)
        units.append(UnitImpact(code, name, old_id, status, before, after,
                                band_status(after["households"], band)))
    order = {"changed": 0, "new": 1, "retired": 2}
    units.sort(key=lambda x: (order[x.status], x.code))

    inc_ids = (np.asarray(incidents.ids).ravel() if incidents.ids is not None
               else np.arange(len(inc_gid)))
    moved: list[tuple[int, int | None, str | None]] = []
    for i in np.flatnonzero(inc_move):
        old = int(inc_gid[i])
        new_code = inc_new[i]
        old_code = code_of.get(old) if old >= 0 else None
        if new_code != old_code:
            moved.append((int(inc_ids[i]), old if old >= 0 else None, new_code))
    unassigned = {
        "households": int((hh_move & (hh_new == None)).sum()),  # noqa: E711
        "cameras": int((cam_move & (cam_new == None)).sum()),  # noqa: E711
        "incidents": int((inc_move & (inc_new == None)).sum()),  # noqa: E711
    }
    return Impact(units=units, moved_incidents=moved, unassigned=unassigned)
