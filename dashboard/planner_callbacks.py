"""The planner's callbacks: village and selection, tools, proposals, checks and impact
preview, save, history and compare, out-of-band grids and time travel.

Every edit becomes a :class:`geo.planning.Proposal` kept in the browser (``p-proposal``);
the preview and the save both read it, so what is saved is what was previewed.  Geometry
here is a village's handful of grids, small enough to travel inside callbacks.
"""

from __future__ import annotations

import base64
import dataclasses
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from dash import Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine

from dashboard import geodata, planner_panels
from dashboard import planner_view as pv
from dashboard.callbacks import (
    Callbacks,
    app_settings,
    basemap_datum,
    engine,
    local_tz,
    runtime,
)
from dashboard.i18n import t
from dashboard.planner import EMPTY, legend
from geo import planning as gp
from onemap.errors import OneMapError
from onemap.settings import Settings
from planning import service as planning
from store import planning as sp
from store import wall as db_wall

BAND_LIST_LIMIT = 60


def _band(settings: Settings, parent_name: str) -> tuple[int, int]:
    return planning.band(settings, parent_name)


CALLBACKS = Callbacks("plan.view")


# --- village and selection ------------------------------------------------------------
@CALLBACKS.callback(Output("p-village", "options"), Output("p-village", "value"),
                    Input("p-initial", "data"), State("lang", "data"))
def _villages(initial, lang):
    tree = runtime().units.tree()
    units = tree.units
    villages = [u for u in units.values() if u["level"] == 2]
    villages.sort(key=lambda u: (units.get(u["parent_id"], {}).get("code", ""), u["code"]))
    options = [{"label": f"{units[u['parent_id']]['name']} / {u['name']}"
                if u["parent_id"] in units else u["name"], "value": u["id"]}
               for u in villages]
    value = initial if initial in units else (villages[0]["id"] if villages else None)
    if value is not None and units[value]["level"] == 3:  # a grid: open its village
        value = units[value]["parent_id"]
    return options, value


@CALLBACKS.callback(Output("p-selected", "data"),
                    Input("p-grids", "n_clicks"), Input("p-clear", "n_clicks"),
                    Input("p-village", "value"),
                    State("p-grids", "clickData"), State("p-selected", "data"),
                    prevent_initial_call=True)
def _select(_n, _clear, village, click, selected):
    selected = list(selected or [])
    trigger = ctx.triggered_id
    if trigger == "p-clear":
        return []
    if trigger == "p-village":  # keep what belongs to the new village (a jump from a list)
        units = runtime().units.tree().units
        return [i for i in selected if units.get(i, {}).get("parent_id") == village]
    if not click or "properties" not in click:
        raise PreventUpdate
    gid = int(click["properties"]["id"])
    return [i for i in selected if i != gid] if gid in selected else [*selected, gid]


@CALLBACKS.callback(Output("p-grids", "hideout"), Output("p-selection", "children"),
                    Input("p-selected", "data"), Input("p-grids", "data"), State("lang", "data"))
def _selection(selected, grids, lang):
    names = {f["properties"]["id"]: f["properties"] for f in (grids or EMPTY)["features"]}
    chosen = [names[i] for i in selected or [] if i in names]
    if not chosen:
        return {"selected": []}, t("p_none_selected", lang)
    return {"selected": [p["id"] for p in chosen]}, html.Ul(className="om-chips", children=[
        html.Li(f"{p['name']} · {p['households']}户", className="om-chip") for p in chosen])


@CALLBACKS.callback(Output("p-grids", "data"), Output("p-neighbours", "data"),
                    Output("p-map", "viewport"), Output("p-export", "children"),
                    Output("p-breadcrumb", "children"), Output("p-legend", "children"),
                    Input("p-village", "value"), Input("p-refresh", "data"),
                    Input("p-discard", "n_clicks"), State("lang", "data"))
def _village(village, _refresh, _discard, lang):
    if village is None:
        raise PreventUpdate
    db = engine()
    context = sp.plan_context(db, int(village))
    band = _band(app_settings(), context.parent_name)
    x0, y0, x1, y1 = context.parent_geometry.bounds
    counts = {r["grid_id"]: r for r in db_wall.households_per_grid(db, (x0, y0, x1, y1))}
    features = []
    for row in context.units.itertuples():
        households = counts.get(int(row.id), {}).get("households", 0)
        features.append(pv.feature(row.geometry, {
            "id": int(row.id), "code": row.code, "name": row.name,
            "version": int(row.version), "households": households,
            "band": gp.band_status(households, band)}, basemap_datum()))
    outline = [pv.feature(context.parent_geometry, {"code": context.parent_code,
                                                    "name": context.parent_name,
                                                    "version": 0}, basemap_datum())]
    (s, w), (n, e) = display_bounds(context.parent_geometry.bounds)
    viewport = {"bounds": [[s, w], [n, e]], "transition": "flyToBounds",
                "options": {"duration": 0.5}} if ctx.triggered_id == "p-village" else no_update
    links = [html.A(label, className="om-button om-small", download="",
                    href="/planner/export?" + urlencode({"format": fmt,
                                                         "within": context.parent_code}))
             for fmt, label in (("geojson", "GeoJSON"), ("gpkg", "GeoPackage"),
                                ("shp", "Shapefile"))]
    tree = runtime().units.tree().units
    town = tree.get(tree.get(int(village), {}).get("parent_id"), {})
    crumb = [html.Span(town.get("name", ""), className="om-crumb"),
             html.Span("›", className="om-crumb-sep"),
             html.Span(context.parent_name, className="om-crumb"),
             html.Span(f"{t('p_band', lang)} {band[0]}–{band[1]} {t('p_households', lang)}",
                       className="om-muted")]
    return pv.collection(features), pv.collection(outline), viewport, \
        [html.Span(t("p_export", lang)), *links], crumb, legend(lang, band)


def display_bounds(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    x0, y0, x1, y1 = bounds
    xs, ys = geodata.to_display(np.array([x0, x1]), np.array([y0, y1]), basemap_datum())
    return [[float(ys[0]), float(xs[0])], [float(ys[1]), float(xs[1])]]


# --- tools ---------------------------------------------------------------------------
@CALLBACKS.callback(Output("p-tool", "data"), Output("p-draw", "drawToolbar"),
                    Output("p-shape", "data"), Output("p-hint", "children"),
                    Input("p-edit", "n_clicks"), Input("p-redraw", "n_clicks"),
                    Input("p-split", "n_clicks"), Input("p-create", "n_clicks"),
                    Input("p-finish", "n_clicks"), Input("p-discard", "n_clicks"),
                    Input("p-refresh", "data"), Input("p-village", "value"),
                    State("p-selected", "data"), State("p-grids", "data"), State("p-tool", "data"),
                    State("lang", "data"), prevent_initial_call=True)
def _tool(_e, _r, _s, _c, _f, _d, _refresh, _village, selected, grids, tool, lang):
    trigger = ctx.triggered_id
    stamp = int(time.time() * 1000)
    if trigger in ("p-discard", "p-refresh", "p-village"):
        return None, {"mode": "polyline", "action": "cancel", "n_clicks": stamp}, EMPTY, ""
    if trigger == "p-finish":
        mode = "polyline" if tool == "split" else "polygon"
        return no_update, {"mode": mode, "action": "finish", "n_clicks": stamp}, \
            no_update, no_update
    if trigger == "p-create":
        return "create", {"mode": "polygon", "n_clicks": stamp}, EMPTY, t("p_poly_hint", lang)
    if len(selected or []) != 1:
        return None, no_update, EMPTY, html.Span(t("p_need_one", lang), className="om-warn")
    if trigger == "p-edit":
        shape_ = [f for f in (grids or EMPTY)["features"]
                  if f["properties"]["id"] == selected[0]]
        return "edit", no_update, pv.collection(shape_), t("p_edit_hint", lang)
    if trigger == "p-redraw":
        return "redraw", {"mode": "polygon", "n_clicks": stamp}, EMPTY, \
            t("p_poly_hint", lang)
    return "split", {"mode": "polyline", "n_clicks": stamp}, EMPTY, t("p_draw_hint", lang)


# --- proposals -----------------------------------------------------------------------
@CALLBACKS.callback(Output("p-proposal", "data"), Output("p-draw", "editToolbar"),
                    Output("p-message", "children"),
                    Output("p-selected", "data", allow_duplicate=True),
                    Input("p-draw", "geojson"), Input("plan-edited", "data"),
                    Input("p-merge", "n_clicks"), Input("p-suggest", "n_clicks"),
                    Input("p-repair", "n_clicks"),
                    Input("p-upload", "contents"), Input("p-discard", "n_clicks"),
                    Input("p-village", "value"),
                    State("p-upload", "filename"), State("p-tool", "data"),
                    State("p-selected", "data"), State("p-snap", "value"),
                    State("p-adjust", "value"), State("p-k", "value"),
                    State("p-proposal", "data"), State("lang", "data"),
                    prevent_initial_call=True)
def _propose(drawn, edited, _merge, _suggest, _repair, upload, _discard, village, filename,
             tool, selected, snap, adjust, k, current, lang):
    trigger = ctx.triggered_id
    if trigger in ("p-discard", "p-village"):
        return None, no_update, "", no_update
    selected = [int(i) for i in selected or []]
    clear = {"mode": "remove", "action": "clear all", "n_clicks": int(time.time() * 1000)}
    try:
        if trigger == "p-upload":
            return _from_file(upload, filename, village, lang), no_update, "", []
        if village is None:
            raise PreventUpdate
        edit = _edit(trigger, int(village), drawn, edited, tool, selected, snap, adjust, k,
                     current, lang)
    except OneMapError as exc:
        return no_update, (clear if trigger == "p-draw" else no_update), \
            html.Span(exc.user_msg, className="om-error"), no_update
    if edit is None:
        raise PreventUpdate
    proposal, chosen = edit
    said = html.Span(proposal.note, id="p-repaired") if trigger == "p-repair" else ""
    return pv.proposal_to_store(proposal), (clear if trigger == "p-draw" else no_update), \
        said, chosen


def _edit(trigger: Any, village: int, drawn: Any, edited: Any, tool: str | None,
          selected: list[int], snap: Any, adjust: Any, k: Any, current: dict | None,
          lang: str) -> tuple[gp.Proposal, list[int]] | None:
    """The edit a tool asks for, made on the village as the current proposal leaves it
    (so a suggestion or a split can be adjusted before saving) and combined with it;
    with the grids to select next (what the edit produced from the selection)."""
    db = engine()
    context = sp.plan_context(db, village)
    first = pv.proposal_from_store(current) if current else None
    if first is not None and first.parent_id != village:
        first = None
    base = gp.applied(context, first) if first is not None else context
    snap_m = float(snap) if snap not in (None, "") else 2.0
    if trigger == "p-draw":
        geom = pv.drawn_geometry(drawn, basemap_datum())
        if geom is None or tool not in ("split", "redraw", "create"):
            return None
        if tool == "create":
            second = gp.create(base, geom, snap_m=snap_m)
        elif not selected:
            raise OneMapError(t("p_need_one", lang))
        elif tool == "split":
            second = gp.split(base, selected[0], geom, snap_m=snap_m)
        else:
            second = gp.reshape(base, selected[0], geom, snap_m=snap_m,
                                adjust_neighbours=bool(adjust))
    elif trigger == "plan-edited":
        if tool != "edit" or len(selected) != 1 or not edited:
            return None
        second = gp.reshape(base, selected[0], pv.drawn_geometry(edited, basemap_datum()),
                            snap_m=snap_m, adjust_neighbours=bool(adjust))
    elif trigger == "p-merge":
        if len(selected) < 2:
            raise OneMapError(t("p_need_two", lang))
        second = gp.merge(base, selected)
    elif trigger == "p-repair":
        second, _changes = gp.repair(base, snap_m)
    elif trigger == "p-suggest":
        if len(selected) != 1:
            raise OneMapError(t("p_need_one", lang))
        households = _households_of(db, first, base, selected[0])
        second = gp.suggest_split(base, selected[0], households, max(2, int(k or 2)))
    else:
        return None
    proposal = gp.compose(context, first, second) if first is not None else second
    if trigger == "p-repair":  # the repair's list of changes is the message and the note
        proposal = dataclasses.replace(proposal, note=second.note)
    picked = {u.code for u in second.added if set(u.replaces) & set(selected)} or \
        {u.code for u in second.added if not u.replaces}
    if tool == "edit" and trigger == "plan-edited":  # keep editing the same grid
        code = base.units.set_index("id").loc[selected[0], "code"]
        picked = {code}
    chosen = [-(j + 1) for j, u in enumerate(proposal.added) if u.code in picked]
    return proposal, chosen


def _households_of(db: Engine, first: gp.Proposal | None, base: gp.PlanContext,
                   unit_id: int) -> gp.PointSet:
    """Households of a grid, also of one that exists only in the proposal so far."""
    if unit_id > 0 or first is None:
        return sp.plan_points(db, ((unit_id,), None))["households"]
    points = sp.plan_points(db, first)["households"]
    code = base.units.set_index("id").loc[unit_id, "code"]
    inside = np.array([c == code for c in gp.assign(first.added, points.xy)], dtype=bool)
    return gp.PointSet(points.xy[inside], np.full(int(inside.sum()), unit_id),
                       None if points.weight is None else points.weight[inside],
                       None if points.ids is None else points.ids[inside])


def _from_file(contents: str | None, filename: str | None, village: int | None,
               lang: str) -> dict | None:
    from loaders import planner_files

    if not contents:
        raise PreventUpdate
    data = base64.b64decode(contents.split(",", 1)[1])
    with tempfile.TemporaryDirectory(prefix="onemap-upload-") as tmp:
        path = Path(tmp) / Path(filename or "upload.geojson").name
        path.write_bytes(data)
        if path.suffix.lower() == ".zip":  # a Shapefile travels as a zip of its parts
            path = _unzip_shapefile(path)
        frame = planner_files.read_layer(path)
        with engine().connect() as conn:
            proposals = planner_files.proposals_from_layer(conn, frame)
    if not proposals:
        raise OneMapError("文件与当前网格一致，没有改动。/ The file matches the current "
                          "grids: nothing changed.")
    if len(proposals) > 1:
        raise OneMapError(
            f"文件改动了 {len(proposals)} 个村（社区）的网格；页面一次预览一个，请用 "
            f"`onemap plan import {filename}` 一并导入。/ The file changes grids in "
            f"{len(proposals)} villages; the page previews one at a time — use "
            f"`onemap plan import`.")
    if proposals[0].parent_id != village:
        units = runtime().units.tree().units
        name = units.get(proposals[0].parent_id, {}).get("name", proposals[0].parent_id)
        raise OneMapError(f"文件改动的是“{name}”的网格，请先在左上角选择该村（社区）再导入。/ "
                          f"The file changes the grids of {name}: pick that village first, "
                          "then drop the file again.")
    return pv.proposal_to_store(proposals[0])


# --- checks and impact ----------------------------------------------------------------
@CALLBACKS.callback(Output("p-proposed", "data"), Output("p-problems", "data"),
                    Output("p-checks", "children"), Output("p-impact", "children"),
                    Output("p-moved", "children"), Output("p-save", "disabled"),
                    Output("p-tabs", "value"), Output("p-grids", "data", allow_duplicate=True),
                    Input("p-proposal", "data"), State("p-grids", "data"), State("lang", "data"),
                    prevent_initial_call=True)
def _preview(data, grids, lang):
    if not data:
        return EMPTY, EMPTY, t("p_no_proposal", lang), None, None, True, no_update, \
            no_update
    started = time.perf_counter()
    db = engine()
    proposal = pv.proposal_from_store(data)
    try:
        checked = planning.preview(runtime(), proposal, db=db)
    except OneMapError as exc:  # the village changed under us: say so, offer nothing
        return EMPTY, EMPTY, html.Span(exc.user_msg, className="om-error"), None, None, \
            True, no_update, no_update
    context, validation, impact = checked.context, checked.validation, checked.impact
    after = {u.code: u for u in impact.units}
    features = [pv.feature(u.geometry, {
        "code": u.code, "name": u.name,
        "status": after[u.code].status if u.code in after else "new",
        "households": after[u.code].after.get("households", 0) if u.code in after else 0,
        "band": after[u.code].band if u.code in after else "none"}, basemap_datum())
        for u in proposal.added]
    problems = planner_panels.problem_features(validation.introduced, basemap_datum()) + \
        planner_panels.problem_features(validation.existing, basemap_datum(), existing=True)
    blocked = not validation.ok
    checks = [html.Div(t("p_blocked" if blocked else "p_valid", lang),
                       className="om-error" if blocked else "om-ok", id="p-verdict"),
              html.Ul(planner_panels.problem_items(validation.introduced, lang, "om-problem"),
                      className="om-problems", id="p-problem-list")]
    if validation.existing:
        checks += [html.Details([html.Summary(f"{t('p_existing', lang)} "
                                              f"({len(validation.existing)})"),
                                 html.Ul(planner_panels.problem_items(validation.existing, lang,
                                                        "om-problem-old"))])]
    names = {u.code: u.name for u in impact.units}
    old_names = {int(r.id): r.name for r in context.units.itertuples()}
    moved_rows = [html.Li(f"#{iid}: {old_names.get(old, '–') if old else '–'} → "
                          f"{names.get(new, new) if new else t('p_unassigned', lang)}")
                  for iid, old, new in impact.moved_incidents[:200]]
    moved = [html.H4(f"{t('p_moved', lang)} ({len(impact.moved_incidents)})"),
             html.Ul(moved_rows, className="om-list om-moved", id="p-moved-list")
             if moved_rows else html.P(t("p_no_moved", lang), className="om-muted")]
    lost = {k: v for k, v in impact.unassigned.items() if v}
    if lost:
        moved.append(html.P(f"{t('p_unassigned', lang)}: " +
                            ", ".join(f"{k} {v}" for k, v in lost.items()),
                            className="om-warn"))
    elapsed = (time.perf_counter() - started) * 1000
    impact_block = [html.H4(t("p_impact", lang)), planner_panels.impact_table(impact, lang),
                    html.Small(f"{elapsed:.0f} ms", className="om-muted",
                               id="p-preview-ms")]
    # The grids layer shows the village as the proposal leaves it, so the planner can
    # select a proposed grid and edit it further (temporary ids -1, -2, …).
    counts = {f["properties"]["id"]: f["properties"]["households"]
              for f in (grids or EMPTY)["features"]}
    band = _band(app_settings(), context.parent_name)
    shown = []
    for row in gp.apply(context, proposal).itertuples():
        n = after[row.code].after["households"] if row.code in after else \
            counts.get(int(row.id), 0)
        shown.append(pv.feature(row.geometry, {
            "id": int(row.id), "code": row.code, "name": row.name,
            "version": int(row.version), "households": n,
            "band": gp.band_status(n, band)}, basemap_datum()))
    return pv.collection(features), pv.collection(problems), checks, impact_block, \
        moved, blocked, "preview", pv.collection(shown)


# --- save ------------------------------------------------------------------------------
@CALLBACKS.callback(Output("p-proposal", "data", allow_duplicate=True),
                    Output("p-message", "children", allow_duplicate=True),
                    Output("p-refresh", "data"), Output("p-selected", "data",
                                                        allow_duplicate=True),
                    Input("p-save", "n_clicks"),
                    State("p-proposal", "data"), State("p-effective", "date"),
                    State("p-actor", "value"), State("p-note", "value"), State("p-refresh", "data"),
                    State("lang", "data"), prevent_initial_call=True)
def _save(clicks, data, day, actor, note, refresh, lang):
    if not clicks or not data:
        raise PreventUpdate
    proposal = pv.proposal_from_store(data)
    try:
        effective = pv.effective_time(day, local_tz(), datetime.now(UTC))
        rt = runtime()
        # The signed-in user is who saved it; a name typed in the box is kept beside it.
        typed = (actor or "").strip()
        who = rt.actor.label + (f"（{typed}）" if typed and typed != rt.actor.name else "")
        result = planning.save(rt, proposal, actor=who, effective=effective, note=note or "")
    except sp.PlanConflict as exc:
        return no_update, html.Div([html.B(t("p_conflict", lang) + ": "), exc.user_msg],
                                   className="om-error", id="p-conflict"), no_update, \
            no_update
    except OneMapError as exc:
        return no_update, html.Span(exc.user_msg, className="om-error"), no_update, \
            no_update
    _after_save()
    codes = ", ".join(sorted(result.added))
    return None, html.Span(t("p_saved", lang) + codes, className="om-ok", id="p-saved"), \
        (refresh or 0) + 1, [int(i) for i in result.added.values()]


def _after_save() -> None:
    """This process's wall caches pick the new version up now (others within seconds)."""
    threading.Thread(target=geodata.layers(engine(), app_settings()).refresh, daemon=True,
                     name="onemap-planner-refresh").start()

def register(app: Dash) -> None:
    """Attach every callback of this module to ``app``."""
    CALLBACKS.attach(app)


def _unzip_shapefile(path: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        shp = [n for n in names if n.lower().endswith(".shp")]
        if len(shp) != 1:
            raise OneMapError(f"{path.name}: 压缩包中应恰有一个 .shp 文件 / the zip must hold "
                              f"exactly one .shp (found {len(shp)}).")
        for n in names:
            target = path.parent / Path(n).name
            target.write_bytes(archive.read(n))
    return path.parent / Path(shp[0]).name
