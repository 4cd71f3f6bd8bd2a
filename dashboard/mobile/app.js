/* 一张图 · 网格员 (/m): report with GPS and photos, my tasks, and an offline queue.
 *
 * Reports and actions go into an IndexedDB outbox first, each with an Idempotency-Key made
 * here; the outbox is sent in order whenever the network is there (now, on "online", every
 * 15 s), so an item sent twice is stored once by the server and nothing is lost offline.
 */
"use strict";
(function () {
  const T = {
    zh: { title: "网格员", online: "在线", offline: "离线", report: "上报事件",
      desc_ph: "描述问题：什么事、在哪里、影响多大", locating: "定位中…", relocate: "重新定位",
      address_ph: "地址（可选）", photos: "拍照 / 选择照片（最多 9 张）", send: "提交上报",
      tasks: "我的任务", outbox: "待发送", send_now: "立即发送",
      outbox_help: "没有网络时，上报和操作先存在手机里，网络恢复后自动发送。",
      tab_report: "上报", tab_tasks: "任务", tab_outbox: "待发送",
      accuracy: "定位精度 ±{m} 米", no_gps: "无法获取定位（{e}）：请在地图上点选位置",
      moved: "已手动调整位置", falls_in: "将归入：{g}", not_mine: "{g}（不在您负责的网格，提交会被拒绝）",
      outside: "不在已缓存的网格范围内", pick_cat: "请选择类别", need_desc: "请填写问题描述",
      need_loc: "还没有位置：请等待定位或在地图上点选", queued: "已保存，等待发送（共 {n} 条）",
      sent: "已送达：案件 #{id}{g}", too_many: "最多 9 张照片", sign_in: "登录已过期：请重新登录后发送",
      no_tasks: "暂无待办任务", due_in: "剩余 {t}", overdue: "已超期 {t}", urged: "催办×{n}",
      supervised: "督办", note_ph: "说明（办结结果/上报原因）", confirm: "确认",
      need_note: "请填写说明", action_queued: "已记录：{a}（待发送）", report_item: "上报",
      photos_n: "{n} 张照片", failed: "未能发送：{e}", delete: "删除", nothing: "没有待发送的内容",
      cached: "离线：显示的是上次同步的任务", h: "小时", m: "分钟", d: "天", lang: "EN",
      checkin_gps: "正在获取到场定位…", far: "您当前的位置不在网格附近：请在地图上点选事发位置" },
    en: { title: "Grid worker", online: "Online", offline: "Offline", report: "Report",
      desc_ph: "What, where, how serious", locating: "Locating…", relocate: "Locate again",
      address_ph: "Address (optional)", photos: "Take / choose photos (up to 9)", send: "Send report",
      tasks: "My tasks", outbox: "Waiting to send", send_now: "Send now",
      outbox_help: "Without network, reports and actions wait on the phone and are sent when it returns.",
      tab_report: "Report", tab_tasks: "Tasks", tab_outbox: "Outbox",
      accuracy: "Accuracy ±{m} m", no_gps: "No position ({e}): tap the map to place it",
      moved: "Position set by hand", falls_in: "Falls in: {g}", not_mine: "{g} (not your grid: it would be refused)",
      outside: "Outside the cached grids", pick_cat: "Pick a category", need_desc: "Describe the problem",
      need_loc: "No position yet: wait for GPS or tap the map", queued: "Saved, waiting to send ({n} in all)",
      sent: "Delivered: case #{id}{g}", too_many: "At most 9 photos", sign_in: "Signed out: sign in again to send",
      no_tasks: "No open tasks", due_in: "{t} left", overdue: "Overdue by {t}", urged: "Urged ×{n}",
      supervised: "Supervised", note_ph: "Note (result / reason)", confirm: "Confirm",
      need_note: "Write a note", action_queued: "Recorded: {a} (waiting to send)", report_item: "Report",
      photos_n: "{n} photo(s)", failed: "Not sent: {e}", delete: "Delete", nothing: "Nothing waits",
      cached: "Offline: tasks as last synced", h: "h", m: "min", d: "d", lang: "中文",
      checkin_gps: "Getting your position…", far: "You are far from your grids: tap the map where it happened" },
  };
  const qs = new URLSearchParams(location.search);
  let lang = qs.get("lang") || localStorage.getItem("onemap-m-lang") || "zh";
  const t = (k, v) => (T[lang][k] || T.zh[k] || k).replace(/\{(\w+)\}/g, (_, n) => (v || {})[n] ?? "");
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  };
  const state = { boot: null, cat: null, pos: null, acc: null, manual: false, photos: [],
                  flushing: false, signedOut: false };

  // -- identity of an item: random, also without a secure context ---------------------
  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return "m-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // -- the outbox (IndexedDB) ----------------------------------------------------------
  let dbp = null;
  function db() {
    if (!dbp) dbp = new Promise((ok, bad) => {
      const r = indexedDB.open("onemap-m", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("outbox", { keyPath: "key" });
      r.onsuccess = () => ok(r.result);
      r.onerror = () => bad(r.error);
    });
    return dbp;
  }
  async function store(mode, fn) {
    const d = await db();
    return new Promise((ok, bad) => {
      const tx = d.transaction("outbox", mode);
      const out = fn(tx.objectStore("outbox"));
      tx.oncomplete = () => ok(out && out.result !== undefined ? out.result : undefined);
      tx.onerror = () => bad(tx.error);
    });
  }
  const putItem = (item) => store("readwrite", (s) => s.put(item));
  const delItem = (key) => store("readwrite", (s) => s.delete(key));
  const allItems = async () => (await store("readonly", (s) => s.getAll()) || [])
    .sort((a, b) => a.created - b.created);

  async function showWaiting() {
    const items = await allItems();
    const n = items.length;
    $("waiting").textContent = String(n);
    $("waiting").classList.toggle("some", n > 0);
    const box = $("outbox");
    box.replaceChildren();
    if (!n) box.append(el("p", { class: "msg" }, t("nothing")));
    for (const it of items) {
      const label = it.kind === "report"
        ? `${t("report_item")} · ${it.label || ""} · ${t("photos_n", { n: (it.photos || []).length })}`
        : `#${it.incidentId} · ${it.label || it.body.action}`;
      const row = el("div", { class: "item" + (it.error ? " err" : ""), "data-key": it.key },
        el("div", {}, label),
        el("small", {}, new Date(it.created).toLocaleString()));
      if (it.error) {
        row.append(el("div", { class: "msg err" }, t("failed", { e: it.error })),
          el("button", { type: "button", onclick: async () => { await delItem(it.key); showWaiting(); } },
            t("delete")));
      }
      box.append(row);
    }
    return n;
  }

  // -- sending ---------------------------------------------------------------------------
  class Stop extends Error {}
  async function post(url, body, key, isForm) {
    const headers = { "X-CSRFToken": csrf() };
    if (key) headers["Idempotency-Key"] = key;
    if (!isForm) headers["Content-Type"] = "application/json";
    let r;
    try {
      r = await fetch(url, { method: "POST", headers, credentials: "same-origin",
                             body: isForm ? body : JSON.stringify(body) });
    } catch (e) { throw new Stop("network"); }
    if (r.status === 401 || (r.status === 403 && r.headers.get("content-type")?.includes("json")
        && (await r.clone().text()).includes("CSRF"))) {
      state.signedOut = true; throw new Stop("signin");
    }
    if (r.status >= 500 || r.status === 429 || r.status === 408) throw new Stop("server");
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    return { ok: r.ok, status: r.status, data };
  }
  function errorText(data) {
    const e = data && data.error;
    if (!e) return "?";
    const fields = (e.fields || []).map((f) => `${f.field}: ${f.reason}`).join("; ");
    return (e.message || "") + (fields ? ` (${fields})` : "");
  }
  async function sendOne(it) {
    if (it.kind === "report") {
      if (!it.incidentId) {
        const r = await post("/m/reports", it.body, it.key);
        if (!r.ok) { it.error = errorText(r.data); await putItem(it); return null; }
        it.incidentId = r.data.id; it.grid = r.data.grid; it.photosSent = 0;
        await putItem(it);
      }
      const photos = it.photos || [];
      while (it.photosSent < photos.length) {
        const form = new FormData();
        form.append("file", photos[it.photosSent], `photo-${it.photosSent + 1}.jpg`);
        const r = await post(`/media/${it.incidentId}/photos`, form, null, true);
        if (!r.ok) (it.photoErrors = it.photoErrors || []).push(errorText(r.data));
        it.photosSent += 1;
        await putItem(it);
      }
      await delItem(it.key);
      return t("sent", { id: it.incidentId, g: it.grid ? ` · ${it.grid}` : "" });
    }
    const r = await post(`/m/incidents/${it.incidentId}/actions`, it.body, it.key);
    if (!r.ok) { it.error = errorText(r.data); await putItem(it); return null; }
    await delItem(it.key);
    return `#${it.incidentId} · ${it.label || it.body.action} ✓`;
  }
  async function flush() {
    if (state.flushing) return;
    state.flushing = true;
    let said = null;
    try {
      for (const it of await allItems()) {
        if (it.error) continue;
        said = (await sendOne(it)) || said;
      }
      state.signedOut = false;
    } catch (e) {
      if (!(e instanceof Stop)) console.error(e);
      if (e.message === "signin") say($("report-msg"), t("sign_in"), "err", true);
    } finally {
      state.flushing = false;
      await showWaiting();
      if (said) { say($("report-msg"), said, "ok"); loadTasks(); }
    }
  }
  function say(node, text, kind, withLogin) {
    node.className = "msg " + (kind || "");
    node.replaceChildren(text);
    if (withLogin) {
      node.append(" ", el("a", { href: "/login?next=" + encodeURIComponent("/m" + location.search) },
                          lang === "en" ? "Sign in" : "登录"));
    }
  }
  function showNet() {
    const on = navigator.onLine;
    $("net").textContent = t(on ? "online" : "offline");
    $("net").className = "net " + (on ? "on" : "off");
  }

  // -- the map: the cached grids in SVG (no tiles needed), the pin, the grid preview ----
  let view = null;
  function ringsOf(geom) {
    if (!geom) return [];
    if (geom.type === "Polygon") return [geom.coordinates];
    if (geom.type === "MultiPolygon") return geom.coordinates;
    return [];
  }
  function inRing(x, y, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function gridAt(lon, lat) {
    for (const f of (state.boot && state.boot.grids.features) || []) {
      for (const poly of ringsOf(f.geometry)) {
        if (inRing(lon, lat, poly[0]) && !poly.slice(1).some((h) => inRing(lon, lat, h))) return f;
      }
    }
    return null;
  }
  function fit() {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const add = (x, y) => { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); };
    const feats = (state.boot && state.boot.grids.features) || [];
    const mine = feats.filter((f) => f.properties.mine);
    for (const f of (mine.length ? mine : feats)) for (const p of ringsOf(f.geometry)) for (const [x, y] of p[0]) add(x, y);
    if (state.pos) {
      // A fix near the grids widens the view to show it; one far away (GPS off, another
      // town) would shrink the grids to a dot: then the worker taps the map instead.
      const dx = (x1 - x0) || 0.01, dy = (y1 - y0) || 0.01;
      const near = !isFinite(x0) || (state.pos[0] > x0 - dx && state.pos[0] < x1 + dx
                                     && state.pos[1] > y0 - dy && state.pos[1] < y1 + dy);
      if (near) add(state.pos[0], state.pos[1]);
      state.far = !near;
    }
    if (!isFinite(x0)) return null;
    const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const w = Math.max((x1 - x0) * k, 1e-4), h = Math.max(y1 - y0, 1e-4);
    const s = Math.min(300 / w, 200 / h);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return { k, s, cx, cy,
      px: (x, y) => [160 + (x - cx) * k * s, 110 - (y - cy) * s],
      ll: (px, py) => [cx + (px - 160) / (k * s), cy - (py - 110) / s] };
  }
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  function drawMap() {
    const map = $("map");
    if (!view) view = fit();
    map.replaceChildren();
    if (!view) return;
    const hit = state.pos ? gridAt(state.pos[0], state.pos[1]) : null;
    for (const f of state.boot.grids.features) {
      const d = ringsOf(f.geometry).map((poly) => poly.map((ring) =>
        "M" + ring.map(([x, y]) => view.px(x, y).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("")).join("");
      map.append(svg("path", { d, class: "g" + (f.properties.mine ? " mine" : "") + (f === hit ? " hit" : ""),
                               "fill-rule": "evenodd" }));
    }
    for (const f of state.boot.grids.features.filter((g) => g.properties.mine)) {
      const pts = ringsOf(f.geometry)[0][0].map(([x, y]) => view.px(x, y));
      const cx = pts.reduce((a, p) => a + p[0], 0) / pts.length, cy = pts.reduce((a, p) => a + p[1], 0) / pts.length;
      const label = svg("text", { x: cx.toFixed(1), y: cy.toFixed(1), "text-anchor": "middle" });
      label.textContent = f.properties.name;
      map.append(label);
    }
    if (state.pos) {
      const [px, py] = view.px(state.pos[0], state.pos[1]);
      if (state.acc && !state.manual) map.append(svg("circle", { cx: px, cy: py, class: "acc",
        r: Math.min(150, Math.max(4, state.acc / 111320 * view.s)) }));
      map.append(svg("circle", { cx: px, cy: py, r: 8, class: "pin", id: "pin" }));
    }
    const p = $("grid-preview");
    if (!state.pos) { p.textContent = ""; return; }
    if (state.far && !state.manual) {
      p.className = "preview warn"; p.textContent = t("far"); p.dataset.grid = ""; return;
    }
    p.className = "preview" + (hit && hit.properties.mine ? "" : " warn");
    p.textContent = hit ? (hit.properties.mine ? t("falls_in", { g: hit.properties.name })
      : t("not_mine", { g: hit.properties.name })) : t("outside");
    p.dataset.grid = hit ? hit.properties.code : "";
  }
  function placeFromPointer(ev) {
    if (!view) return;
    const r = $("map").getBoundingClientRect();
    const px = (ev.clientX - r.left) * 320 / r.width, py = (ev.clientY - r.top) * 220 / r.height;
    state.pos = view.ll(px, py); state.manual = true; state.far = false;
    $("accuracy").textContent = t("moved");
    drawMap();
  }
  let dragging = false;
  function wireMap() {
    const map = $("map");
    map.addEventListener("pointerdown", (e) => { dragging = true; map.setPointerCapture(e.pointerId); placeFromPointer(e); });
    map.addEventListener("pointermove", (e) => { if (dragging) placeFromPointer(e); });
    map.addEventListener("pointerup", () => { dragging = false; });
  }
  function locate() {
    if (!navigator.geolocation) { $("accuracy").textContent = t("no_gps", { e: "—" }); return; }
    state.manual = false;
    $("accuracy").textContent = t("locating");
    navigator.geolocation.getCurrentPosition((p) => {
      if (state.manual) return;
      state.pos = [p.coords.longitude, p.coords.latitude]; state.acc = p.coords.accuracy;
      $("accuracy").textContent = t("accuracy", { m: Math.round(p.coords.accuracy) });
      view = fit(); drawMap();
    }, (err) => { $("accuracy").textContent = t("no_gps", { e: err.message || err.code }); },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
  }

  // -- the report form -----------------------------------------------------------------
  function drawCats() {
    const box = $("cats");
    box.replaceChildren();
    for (const c of state.boot.categories) {
      box.append(el("button", { type: "button", role: "radio", "data-code": c.code,
        "aria-checked": String(state.cat === c.code),
        onclick: () => { state.cat = c.code; drawCats(); } }, c.name));
    }
  }
  function drawThumbs() {
    const box = $("thumbs");
    box.replaceChildren();
    state.photos.forEach((f, i) => {
      const url = URL.createObjectURL(f);
      box.append(el("figure", {}, el("img", { src: url, alt: f.name }),
        el("button", { type: "button", "aria-label": t("delete"),
          onclick: () => { state.photos.splice(i, 1); drawThumbs(); } }, "×")));
    });
  }
  async function sendReport() {
    const msg = $("report-msg");
    const desc = $("desc").value.trim();
    if (!state.cat) return say(msg, t("pick_cat"), "err");
    if (!desc) return say(msg, t("need_desc"), "err");
    if (!state.pos) return say(msg, t("need_loc"), "err");
    if (state.far && !state.manual) return say(msg, t("far"), "err");
    const body = { category: state.cat, description: desc,
      location: { lon: +state.pos[0].toFixed(7), lat: +state.pos[1].toFixed(7), datum: "wgs84" },
      reported_at: new Date().toISOString() };
    const address = $("address").value.trim();
    if (address) body.address = address;
    const cat = state.boot.categories.find((c) => c.code === state.cat);
    await putItem({ key: newKey(), kind: "report", created: Date.now(), body,
                    photos: state.photos.slice(), label: cat ? cat.name : state.cat });
    $("desc").value = ""; $("address").value = ""; state.photos = []; state.cat = null;
    drawThumbs(); drawCats();
    const n = await showWaiting();
    say(msg, t("queued", { n }), "ok");
    flush();
  }

  // -- tasks -----------------------------------------------------------------------------
  function span(ms) {
    const m = Math.abs(ms) / 60000;
    if (m >= 2880) return `${Math.floor(m / 1440)}${t("d")}`;
    if (m >= 120) return `${Math.floor(m / 60)}${t("h")}`;
    return `${Math.max(1, Math.floor(m))}${t("m")}`;
  }
  async function queueAction(task, action, extra) {
    const label = state.boot.actions[action] || action;
    await putItem({ key: newKey(), kind: "action", created: Date.now(), incidentId: task.id,
                    body: Object.assign({ action }, extra || {}), label });
    $("tasks-note").className = "msg ok";
    $("tasks-note").textContent = t("action_queued", { a: `#${task.id} ${label}` });
    await showWaiting();
    flush();
  }
  function checkIn(task) {
    $("tasks-note").className = "msg";
    $("tasks-note").textContent = t("checkin_gps");
    navigator.geolocation.getCurrentPosition((p) => queueAction(task, "checkin", {
      location: { lon: +p.coords.longitude.toFixed(7), lat: +p.coords.latitude.toFixed(7), datum: "wgs84" },
      accuracy_m: Math.round(p.coords.accuracy) }),
    (err) => { $("tasks-note").className = "msg err"; $("tasks-note").textContent = t("no_gps", { e: err.message }); },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 30000 });
  }
  function drawTasks(items, cached) {
    const box = $("tasks");
    box.replaceChildren();
    if (cached) box.append(el("p", { class: "msg" }, t("cached")));
    if (!items.length) box.append(el("p", { class: "msg" }, t("no_tasks")));
    const now = Date.now();
    for (const it of items) {
      const due = it.due_at ? Date.parse(it.due_at) - now : null;
      const head = el("h3", {}, el("span", {}, `#${it.id} ${it.category}`), el("span", {}, it.status));
      const tags = el("div", { class: "due" },
        due == null ? "" : (due < 0 ? t("overdue", { t: span(due) }) : t("due_in", { t: span(due) })),
        it.urged ? el("span", { class: "tag" }, t("urged", { n: it.urged })) : null,
        it.supervised ? el("span", { class: "tag" }, t("supervised")) : null);
      const card = el("div", { class: "task" + (due != null && due < 0 ? " overdue" : ""), "data-id": it.id },
        head, tags, el("div", {}, `${it.grid || ""} · ${it.description || ""}`));
      const acts = el("div", { class: "acts" });
      const note = el("textarea", { rows: "2", placeholder: t("note_ph"), hidden: "" });
      for (const a of it.actions) {
        acts.append(el("button", { type: "button", "data-action": a, onclick: () => {
          if (a === "checkin") return checkIn(it);
          if (a === "resolve" || a === "escalate") {
            if (note.hidden) { note.hidden = false; note.focus(); note.dataset.action = a; return; }
            if (!note.value.trim()) { note.placeholder = t("need_note"); return; }
            return queueAction(it, a, { note: note.value.trim() });
          }
          return queueAction(it, a);
        } }, state.boot.actions[a] || a));
      }
      card.append(acts, note);
      box.append(card);
    }
  }
  async function loadTasks() {
    try {
      const r = await fetch("/m/tasks.json" + (lang === "en" ? "?lang=en" : ""), { credentials: "same-origin" });
      if (r.status === 401) { say($("tasks-note"), t("sign_in"), "err", true); return; }
      if (!r.ok) return;
      drawTasks((await r.json()).items, r.headers.get("X-From-Cache") === "1");
    } catch (e) { /* offline and never cached: keep what is shown */ }
  }

  // -- start ---------------------------------------------------------------------------------
  function tabs() {
    for (const b of document.querySelectorAll(".tabs button")) {
      b.addEventListener("click", () => {
        for (const o of document.querySelectorAll(".tabs button")) o.classList.toggle("active", o === b);
        for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + b.dataset.view;
        if (b.dataset.view === "tasks") loadTasks();
        if (b.dataset.view === "outbox") showWaiting();
      });
    }
  }
  function translate() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    for (const n of document.querySelectorAll("[data-t]")) n.textContent = t(n.dataset.t);
    for (const n of document.querySelectorAll("[data-tp]")) n.placeholder = t(n.dataset.tp);
    $("lang").textContent = t("lang");
  }
  async function start() {
    translate();
    tabs();
    wireMap();
    $("lang").addEventListener("click", () => {
      lang = lang === "en" ? "zh" : "en";
      localStorage.setItem("onemap-m-lang", lang);
      location.search = lang === "en" ? "?lang=en" : "";
    });
    $("locate").addEventListener("click", locate);
    $("send").addEventListener("click", sendReport);
    $("flush").addEventListener("click", flush);
    $("photos").addEventListener("change", (e) => {
      const files = Array.from(e.target.files || []);
      if (state.photos.length + files.length > 9) say($("report-msg"), t("too_many"), "err");
      state.photos = state.photos.concat(files).slice(0, 9);
      e.target.value = "";
      drawThumbs();
    });
    window.addEventListener("online", () => { showNet(); flush(); });
    window.addEventListener("offline", showNet);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) flush(); });
    setInterval(flush, 15000);
    setInterval(() => { if (!$("view-tasks").hidden && !document.hidden) loadTasks(); }, 30000);
    showNet();
    try {
      const r = await fetch("/m/boot.json" + (lang === "en" ? "?lang=en" : ""), { credentials: "same-origin" });
      if (r.status === 401) { say($("report-msg"), t("sign_in"), "err", true); return; }
      state.boot = await r.json();
    } catch (e) { say($("report-msg"), t("offline"), "err"); return; }
    $("who").textContent = `${t("title")} · ${state.boot.user.name}`;
    drawCats();
    drawMap();
    locate();
    await showWaiting();
    flush();
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m" }).catch(() => {});
    document.body.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", start);
})();
