"""The command wall's callbacks: navigation, geometry URLs, the choropleth, point layers, the
live tick, lists and KPIs, and the incident drawer with its workflow actions.

Rules of the road (issue #6): geometry travels by URL, never inside a callback; colour
changes travel through ``hideout``; the live tick sends only what changed (a ``Patch``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from dash import ALL, Dash, Input, Output, Patch, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from dashboard import geodata, wall_routes
from dashboard import view as v
from dashboard.callbacks import (
    Callbacks,
    act_on,
    app_settings,
    basemap_datum,
    engine,
    local_tz,
    read_engine,
    runtime,
)
from dashboard.i18n import EVENT_LABELS, REASON_LABELS, SEVERITY_LABELS, level_name, pick, t
from dashboard.unmask import unmask_form
from dashboard.wall import KPIS, LAYERS
from geo.catalog import CATEGORY_BY_CODE, SOURCES
from geo.measures import BY_KEY
from geo.workflow import ACTION_LABELS, STATE_LABELS, allowed_actions
from intake.photos import photo_urls
from onemap.access import can
from store import incidents as db_incidents
from store import photos as db_photos
from store import wall as db_wall
from store.units import UnitTree

LABEL_LIMIT = 40  # permanent labels only when the room can read them


def _filters(category, severity, source, status):
    return v.filters_from(category, severity, source, status)


def _within(view: v.View, tree: UnitTree) -> tuple[int, int] | None:
    if view.parent is None or view.parent not in tree.units:
        return None
    return (tree.units[view.parent]["level"], view.parent)


def _fmt_time(value: datetime | None, tz: str, with_date: bool = True) -> str:
    if value is None:
        return "–"
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo(tz))
    return local.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def _category(code: str, lang: str) -> str:
    cat = CATEGORY_BY_CODE.get(code)
    return (cat.en if lang == "en" else cat.zh) if cat else code


def _list_items(rows: list[dict[str, Any]], lang: str, tz: str, kind: str) -> list[Any]:
    if not rows:
        return [html.Li(t("empty_list", lang), className="om-list-empty")]
    items = []
    for r in rows:
        place = r.get("grid_name") or r.get("village_name") or t("unlocated", lang)
        when = _fmt_time(r["due_at"] if kind == "overdue" else r["received_at"], tz)
        classes = "om-item" + (" om-item-overdue" if r.get("overdue") else "") + (
            " om-item-high" if r.get("severity") == "high" else "")
        items.append(html.Li(className=classes, id={"type": "inc", "index": r["id"]},
                             n_clicks=0, children=[
            html.Span(when, className="om-item-time"),
            html.Span(_category(r["category"], lang), className="om-item-cat"),
            html.Span(place, className="om-item-place"),
            html.Span(pick(STATE_LABELS.get(r["status"]), lang, r["status"]),
                      className=f"om-status om-status-{r['status']}"),
        ]))
    return items


def _feature(row: dict[str, Any], datum: str) -> dict[str, Any] | None:
    if row.get("lon") is None:
        return None
    (x,), (y,) = geodata.to_display([row["lon"]], [row["lat"]], datum)
    return {"type": "Feature", "id": row["id"],
            "geometry": {"type": "Point", "coordinates": [round(float(x), 6),
                                                          round(float(y), 6)]},
            "properties": {"id": row["id"], "status": row["status"],
                           "severity": row["severity"], "category": row["category"],
                           "overdue": bool(row.get("overdue"))}}


def _legend(measure: str, limits: list[float], colours: list[str], lang: str,
            level_label: str) -> list[Any]:
    rows = []
    for k, colour in enumerate(colours[: len(limits)]):
        rows.append(html.Div(className="om-legend-row", children=[
            html.Span(className="om-swatch om-fill", style={"background": colour}),
            html.Span(v.class_label(limits, k, measure)),
        ]))
    rows.append(html.Div(className="om-legend-row", children=[
        html.Span(className="om-swatch om-fill", style={"background": v.NO_DATA}),
        html.Span(t("no_data", lang))]))
    return [html.Div(f"{BY_KEY[measure].label(lang)} · {level_label}", className="om-legend-title",
                     id="legend-title"), *rows]


def _detail(row: dict[str, Any], cameras: list[dict[str, Any]], lang: str, tz: str,
            message: str | None, *, privacy: bool = False, may_act: bool = True,
            may_unmask: bool = False, photos: list[dict[str, Any]] = ()) -> list[Any]:
    """The case's panel.  Personal data arrives masked (store.incidents); ``privacy`` (wall
    mode) hides even the masked names; ``may_unmask`` adds the reveal-with-reason form."""
    reason = REASON_LABELS.get(row.get("location_reason") or "")
    levels = " / ".join(x for x in (row.get("county_name"), row.get("town_name"),
                                    row.get("village_name"), row.get("grid_name")) if x)
    events = [html.Li(className="om-event", children=[
        html.Span(_fmt_time(e["at"], tz), className="om-item-time"),
        html.Span(pick(ACTION_LABELS.get(e["action"]) or EVENT_LABELS.get(e["action"]), lang,
                       e["action"])),
        html.Span(e["actor"] or "", className="om-item-place"),
        html.Span(e.get("note") or "", className="om-event-note"),
    ]) for e in row.get("events", [])]
    cams = [html.Li(className="om-camera", children=[
        html.Span(f"{c['name']} ({c['code']})"),
        html.Span(f"{c['distance_m']:,.0f} m", className="om-item-time"),
        html.Span(t(c["status"], lang) if c["status"] in ("online", "offline") else c["status"],
                  className=f"om-cam-{c['status']}"),
        html.A(t("stream", lang), href=c.get("stream_url") or "#", target="_blank"),
    ]) for c in cameras]
    actions = allowed_actions(row["status"], row.get("handling_level")) if may_act else []
    title = f"#{row['id']} {_category(row['category'], lang)}"
    status = pick(STATE_LABELS.get(row["status"]), lang, row["status"])
    facts = [
        (t("status", lang), status + (f" · {t('overdue_tag', lang)}"
                                      if row.get("overdue_now") else "")),
        (t("severity", lang), pick(SEVERITY_LABELS.get(row["severity"]), lang)),
        (t("source", lang), pick(SOURCES.get(row["source"]), lang, row["source"])),
        (t("where", lang), levels or t("unlocated", lang)),
        (t("reason", lang), pick(reason, lang, row.get("location_reason") or "–")),
        (t("received_at", lang), _fmt_time(row["received_at"], tz)),
        (t("due_at", lang), _fmt_time(row["due_at"], tz)),
        (t("worker", lang), " ".join(x for x in (
            None if privacy else row.get("grid_worker_name"),
            row.get("grid_worker_phone")) if x) or "–"),
        (t("department", lang), row.get("department_name") or "–"),
    ]
    return [
        html.Div(className="om-detail-head", children=[
            html.H2(title), html.Button(t("close", lang), id={"type": "detail-close",
                                                               "index": 0},
                                        className="om-button", n_clicks=0)]),
        html.P(row.get("description") or "", className="om-detail-desc"),
        html.Dl(className="om-facts", children=[x for k, val in facts
                                                for x in (html.Dt(k), html.Dd(val))]),
        *([html.H3(t("photos", lang)), html.Div(id="detail-photos", className="om-photos",
                                                 children=[
            html.A(html.Img(src=p["thumb"], alt=t("photos", lang)), href=p["url"],
                   target="_blank") for p in photos])] if photos else []),
        html.H3(t("cameras_near", lang)),
        html.Ul(cams or [html.Li(t("empty_list", lang))], className="om-list",
                id="detail-cameras"),
        html.H3(t("history", lang)),
        html.Ul(events, className="om-list om-timeline", id="detail-history"),
        html.H3(t("actions", lang)),
        html.Div(className="om-actions", children=[
            *[html.Button(pick(ACTION_LABELS.get(a), lang, a), className="om-button om-act",
                          id={"type": "act", "action": a}, n_clicks=0)
              for a in actions if a != "locate"],
        ]),
        html.Div(className="om-action-inputs", children=[
            html.Textarea(id="action-note", placeholder=t("note", lang), className="om-note"),
            html.Select(id="action-rating", children=[html.Option(str(k), value=str(k))
                                                      for k in (5, 4, 3, 2, 1)]),
        ]),
        html.Div(message or "", id="action-message", className="om-action-message"),
        *(unmask_form(lang) if may_unmask and not privacy else []),
    ]


CALLBACKS = Callbacks("wall.view")


filter_inputs = [Input("window", "value"), Input("custom-range", "start_date"),
                 Input("custom-range", "end_date"), Input("f-category", "value"),
                 Input("f-severity", "value"), Input("f-source", "value"),
                 Input("f-status", "value")]


@CALLBACKS.callback(Output("view", "data"), Output("level", "value"), Output("map", "viewport"),
                    Output("scope", "data"),
                    Input("units", "n_clicks"), Input({"type": "crumb", "index": ALL}, "n_clicks"),
                    Input("level", "value"), Input("tour", "n_intervals"),
                    State("units", "clickData"), State("view", "data"),
                    prevent_initial_call=True)
def _navigate(_clicks, _crumbs, level, _tour, click, view_data):
    tree = runtime().units.tree()
    boxes = geodata.layers(read_engine(), app_settings())  # bounds in the basemap's datum
    view = v.View.from_store(view_data)
    trigger = ctx.triggered_id
    if trigger == "units":
        if not click or "properties" not in click:
            raise PreventUpdate
        props = click["properties"]
        new = v.drill(view, props) if props.get("level") == view.level else None
        if new is None:
            raise PreventUpdate
        target = click.get("bounds") or boxes.bounds(new.parent)
    elif isinstance(trigger, dict) and trigger.get("type") == "crumb":
        if not any(_crumbs):
            raise PreventUpdate
        new = v.back_to(view, int(trigger["index"]), tree.level_of())
        target = boxes.bounds(new.parent)
    elif trigger == "tour":
        towns = tree.towns()
        if not towns:
            raise PreventUpdate
        current = view.path[0] if view.path else None
        nxt = towns[(towns.index(current) + 1) % len(towns)] if current in towns else towns[0]
        new = v.View(2, nxt, (nxt,))
        target = boxes.bounds(nxt)
    else:
        parent_level = tree.units[view.parent]["level"] if view.parent in tree.units else None
        new = v.with_level(view, int(level), parent_level)
        if new == view:
            raise PreventUpdate
        target = boxes.bounds(new.parent)
    viewport = {"bounds": target, "transition": "flyToBounds",
                "options": {"duration": 0.6}} if target else no_update
    # The lists and KPIs depend on the drilled-into unit only: a level switch inside the
    # same unit leaves them alone.
    scope = {"parent": new.parent} if new.parent != view.parent else no_update
    return new.to_store(), new.level, viewport, scope


@CALLBACKS.callback(Output("units", "url"), Output("context", "url"),
                    Input("view", "data"), Input("map", "zoom"))
def _geometry(view_data, zoom):
    view = v.View.from_store(view_data)
    tree = runtime().units.tree()
    band = v.zoom_band(zoom)
    query = {"level": view.level, "z": band}
    if view.parent is not None:
        query["parent"] = view.parent
    context_ids = sorted({*tree.tops(), *view.path})
    context = {"ids": ",".join(map(str, context_ids)), "z": band, "level": "any"}
    return (f"/wall/units.geojson?{urlencode(query)}",
            f"/wall/units.geojson?{urlencode(context)}")


@CALLBACKS.callback(Output("units", "hideout"), Output("legend", "children"),
                    Output("labels", "data"), Output("breadcrumb", "children"),
                    Input("view", "data"), Input("measure", "value"), *filter_inputs,
                    Input("watermark", "data"), State("lang", "data"))
def _choropleth(view_data, measure, window, start, end, cat, sev, src, status, _mark,
                lang):
    view = v.View.from_store(view_data)
    db = read_engine()
    tree = runtime().units.tree()
    ids = tree.below(view.parent, view.level)
    period = v.period_for(window or v.DEFAULT_WINDOW, datetime.now(UTC), local_tz(), start, end)
    values = db_wall.choropleth(db, view.level, ids, period, measure,
                                _filters(cat, sev, src, status)) if ids else {}
    limits = v.breaks(list(values.values()), measure)
    colours = v.colours_for(measure, len(limits))
    spec = BY_KEY[measure]
    hideout = {"values": {str(k): val for k, val in values.items()}, "limits": limits,
               "colours": colours, "noData": v.NO_DATA, "level": view.level,
               "measure": measure,
               "format": {"kind": spec.kind, "decimals": spec.decimals}}
    labels = {"type": "FeatureCollection", "features": []}
    if len(ids) <= LABEL_LIMIT:
        xs = [tree.units[i]["label_lon"] for i in ids]
        ys = [tree.units[i]["label_lat"] for i in ids]
        dx, dy = geodata.to_display(xs, ys, basemap_datum()) if ids else ([], [])
        labels["features"] = [{
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [
                round(float(x), 6), round(float(y), 6)]},
            "properties": {"name": tree.units[i]["name"],
                           "value": v.format_value(values.get(i), measure)}}
            for i, x, y in zip(ids, dx, dy, strict=True)]
    crumbs = [html.Button(t("whole", lang), id={"type": "crumb", "index": -1},
                          className="om-crumb", n_clicks=0)]
    for k, unit_id in enumerate(view.path):
        unit = tree.units.get(unit_id)
        if unit is None:
            continue
        crumbs += [html.Span("›", className="om-crumb-sep"),
                   html.Button(unit["name"], id={"type": "crumb", "index": k},
                               className="om-crumb", n_clicks=0)]
    label = level_name(view.level, lang, app_settings().level_names)
    return hideout, _legend(measure, limits, colours, lang, label), labels, crumbs


@CALLBACKS.callback(*[Output(name, "url") for name in LAYERS], Output("household-counts", "url"),
                    Input("map", "bounds"), Input("map", "zoom"), Input("layers", "value"),
                    *filter_inputs, Input("view", "data"))
def _points(bounds, zoom, layers, window, start, end, cat, sev, src, status, view_data):
    view = v.View.from_store(view_data)
    tree = runtime().units.tree()
    within = _within(view, tree)
    base = {"window": window or v.DEFAULT_WINDOW, "z": round(float(zoom or 10), 1)}
    if window == "custom" and start and end:
        base.update(start=start[:10], end=end[:10])
    for key, value in (("category", cat), ("severity", sev), ("source", src),
                       ("status", status)):
        if value:
            base[key] = ",".join(value)
    if within:
        base["within"] = f"{within[0]}:{within[1]}"
    box = v.bbox_from_bounds(bounds)
    if box:
        base["bbox"] = ",".join(f"{c:.5f}" for c in box)
    chosen = set(layers or ())
    urls = {name: f"/wall/{name}.geojson?{urlencode(base)}" if name in chosen else None
            for name in LAYERS}
    counts = None
    if float(zoom or 10) < wall_routes.HOUSEHOLD_POINTS_ZOOM:
        counts, urls["households"] = urls["households"], None
    return (*[urls[name] for name in LAYERS], counts)


@CALLBACKS.callback(Output("live", "data"), Output("live", "hideout"),
                    Output("incidents", "hideout"), Output("watermark", "data"),
                    Output("live-seen", "data"), Output("live-checked", "data"),
                    Input("tick", "n_intervals"), State("watermark", "data"),
                    State("live-seen", "data"), State("live-checked", "data"))
def _tick(_n, mark, seen, checked):
    rt = runtime()
    now = time.time()
    if mark and not must_read(rt, checked):
        raise PreventUpdate  # nothing changed in this wall's units since it last looked
    since = datetime.fromisoformat(mark) if mark else None
    rows, watermark = db_wall.incidents_changed_since(read_engine(), since)
    new_mark = watermark.isoformat() if watermark else mark
    if not rows:
        return no_update, no_update, no_update, \
            new_mark if new_mark != mark else no_update, no_update, now
    seen_set = set(seen or ())
    data, live_hide, inc_hide = Patch(), Patch(), Patch()
    added = []
    for r in rows:
        override = {"status": r["status"], "overdue": bool(r.get("overdue"))}
        live_hide["overrides"][str(r["id"])] = override
        inc_hide["overrides"][str(r["id"])] = override
        if r["id"] not in seen_set:
            feature = _feature(r, basemap_datum())
            if feature is not None:
                data["features"].append(feature)
                added.append(r["id"])
                seen_set.add(r["id"])
    return data, live_hide, inc_hide, new_mark, [*(seen or ()), *added][-2000:], now


def must_read(rt: Any, checked: float | None) -> bool:
    """Whether this wall's tick must read the database (``ONEMAP_LIVE_UPDATES``): always when
    polling; with notify, only when the process's listener heard of a change in the actor's
    units since ``checked`` (or cannot vouch that there was none)."""
    if rt.settings.live_updates != "notify":
        return True
    from store.live import listener_for, scope_units

    url = rt.engine.url.render_as_string(hide_password=False)
    lag = rt.data_as_of()  # reading a standby: it may replay a change after its NOTIFY
    settle = LIVE_SETTLE_S + (lag.seconds if lag is not None else 0.0)
    return listener_for(url).should_query(scope_units(rt.actor), checked, settle_s=settle)


#: How long walls keep reading after a change (ticks are 3 s; ``updated_at`` is the writer's
#: start time, and a standby may replay a change after its NOTIFY arrived).
LIVE_SETTLE_S = 6.0


@CALLBACKS.callback(Output("latest", "children"), Output("overdue", "children"),
                    *[Output(f"kpi-{name}", "children") for name in KPIS],
                    Input("watermark", "data"), Input("scope", "data"), *filter_inputs,
                    Input("action-done", "data"), State("lang", "data"))
def _lists(_mark, scope, window, start, end, cat, sev, src, status, _done, lang):
    # Right after an action in the drawer the lists must show it: read the primary then.
    db = engine() if ctx.triggered_id == "action-done" else read_engine()
    within = _within(v.View(parent=(scope or {}).get("parent")), runtime().units.tree())
    filters = _filters(cat, sev, src, status)
    period = v.period_for(window or v.DEFAULT_WINDOW, datetime.now(UTC), local_tz(), start, end)
    latest = db_wall.latest_incidents(db, within=within, filters=filters, limit=15)
    overdue = db_wall.overdue_incidents(db, within=within, filters=filters, limit=15)
    k = db_wall.kpis(db, period, filters, within=within, tz=local_tz())
    tiles = (f"{k['received_today']:,}", f"{k['handled_today']:,}",
             f"{k['overdue_now']:,}",
             v.format_value(k["resolution_rate"], "resolution_rate"),
             v.format_value(k["closed_within_grid_village"], "closed_share_grid"))
    tz = local_tz()
    return (_list_items(latest, lang, tz, "latest"), _list_items(overdue, lang, tz, "overdue"),
            *tiles)


@CALLBACKS.callback(Output("selected", "data"),
                    Input("incidents", "n_clicks"), Input("live", "n_clicks"),
                    Input({"type": "inc", "index": ALL}, "n_clicks"),
                    Input({"type": "detail-close", "index": ALL}, "n_clicks"),
                    State("incidents", "clickData"), State("live", "clickData"),
                    prevent_initial_call=True)
def _select(_a, _b, items, closes, click_a, click_b):
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):
        if trigger["type"] == "detail-close":
            if not any(closes):
                raise PreventUpdate
            return None
        if not any(items):
            raise PreventUpdate
        return int(trigger["index"])
    click = click_a if trigger == "incidents" else click_b
    if not click or "properties" not in click:
        raise PreventUpdate
    return int(click["properties"]["id"])


@CALLBACKS.callback(Output("detail", "children"), Output("detail", "style"),
                    Input("selected", "data"), Input("action-done", "data"),
                    State("lang", "data"), State("privacy", "data"))
def _show(selected, done, lang, privacy=False):
    if selected is None:
        return [], {"display": "none"}
    rt = runtime()
    db = engine()
    with db.connect() as conn:
        row = db_incidents.get_incident(conn, int(selected))
    if row is None:
        return [], {"display": "none"}
    cameras = (db_wall.nearest_cameras(db, row["lon"], row["lat"], k=3)
               if row.get("lon") is not None else [])
    message = done.get("message") if done and done.get("id") == selected else None
    shots = photo_urls(row["id"], db_photos.photos_of(db, row["id"]), "/media")
    return _detail(row, cameras, lang, local_tz(), message, privacy=bool(privacy),
                   may_act=can(rt.actor, "incident.act", row),
                   may_unmask=can(rt.actor, "person.unmask", row),
                   photos=shots), {"display": "block"}


@CALLBACKS.callback(Output("action-done", "data"),
                    Input({"type": "act", "action": ALL}, "n_clicks"),
                    State("selected", "data"), State("action-note", "value"),
                    State("action-rating", "value"), State("lang", "data"),
                    prevent_initial_call=True)
def _act(clicks, selected, note, rating, lang):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or selected is None or not any(clicks):
        raise PreventUpdate
    action = trigger["action"]
    return act_on(selected, action, lang, note=note or None,
                  rating=int(rating) if action == "rate" and rating else None)


CALLBACKS.clientside(
 "function(n){ if(n){ const el=document.documentElement;"
 " if(!document.fullscreenElement){ el.requestFullscreen && el.requestFullscreen(); }"
 " else { document.exitFullscreen && document.exitFullscreen(); } }"
 " return window.dash_clientside.no_update; }",
 Output("fullscreen", "title"), Input("fullscreen", "n_clicks"),
 prevent_initial_call=True)


CALLBACKS.clientside(
 "function(n){ return new Date().toLocaleString('zh-CN', {hour12:false}); }",
 Output("clock", "children"), Input("tick", "n_intervals"))


@CALLBACKS.callback(Output("as-of", "children"), Input("tick", "n_intervals"),
                    State("lang", "data"))
def _as_of(_n, lang):
    """"Data as of" when the wall reads a standby (empty when it reads the primary)."""
    rt = runtime()
    return as_of_text(rt.replica is not None, rt.data_as_of(), local_tz(), lang or "zh")


def as_of_text(configured: bool, lag: Any, tz: str, lang: str) -> str:
    if not configured:
        return ""
    if lag is None:
        return t("asof_primary", lang)
    from zoneinfo import ZoneInfo

    moment = lag.as_of.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S")
    return t("asof_replica", lang).format(time=moment, lag=f"{lag.seconds:.1f}")


def register(app: Dash) -> None:
    """Attach every callback of this module to ``app``."""
    CALLBACKS.attach(app)

