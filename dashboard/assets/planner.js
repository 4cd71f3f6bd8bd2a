// Planner map functions, referenced from Python as {"variable": "planner.<name>"}.
//
// dash-leaflet's EditControl drops feature properties, turns polygons with holes into lines
// and cannot take a polygon from a callback (emilhe/dash-leaflet#217).  The planner uses it
// only to draw new lines and polygons; moving the vertices of an existing grid is done here:
// `editableShape` puts a draggable handle on every vertex of every ring (holes and
// multipolygons included) and a "+" handle on every edge's midpoint, and after each drag
// sends the whole shape back to Dash with `dash_clientside.set_props("plan-edited", …)`.
// Python then snaps, adjusts the neighbours and validates it.
(function () {
    const BAND_COLOURS = {under: "#42a5f5", within: "#66bb6a", over: "#ef5350", none: "#90a4ae"};

    function ringsOf(layer) {
        // Leaflet polygons: [ring…] or [[ring…]…] for multipolygons; rings exclude closing pt.
        const ll = layer.getLatLngs();
        if (ll.length && ll[0].length && Array.isArray(ll[0][0])) {
            return [].concat(...ll);
        }
        return ll;
    }

    function send(layer) {
        const gj = layer.toGeoJSON(6);
        window.dash_clientside.set_props("plan-edited", {
            data: {geometry: gj.geometry, at: Date.now()}
        });
    }

    function handles(layer, map, group) {
        group.clearLayers();
        ringsOf(layer).forEach(function (ring) {
            ring.forEach(function (latlng, i) {
                const vertex = L.marker(latlng, {
                    draggable: true, keyboard: false,
                    icon: L.divIcon({className: "om-vertex", iconSize: [14, 14]})
                });
                vertex.on("drag", function (e) {
                    ring[i] = e.target.getLatLng();
                    layer.redraw();
                });
                vertex.on("dragend", function () {
                    layer.setLatLngs(layer.getLatLngs());
                    handles(layer, map, group);
                    send(layer);
                });
                vertex.on("contextmenu", function () {  // right click: remove the vertex
                    if (ring.length <= 3) { return; }
                    ring.splice(i, 1);
                    layer.setLatLngs(layer.getLatLngs());
                    handles(layer, map, group);
                    send(layer);
                });
                group.addLayer(vertex);
                const next = ring[(i + 1) % ring.length];
                const mid = L.latLng((latlng.lat + next.lat) / 2, (latlng.lng + next.lng) / 2);
                const plus = L.marker(mid, {
                    draggable: true, keyboard: false,
                    icon: L.divIcon({className: "om-vertex om-vertex-mid", iconSize: [10, 10]})
                });
                plus.on("dragstart", function () { ring.splice(i + 1, 0, plus.getLatLng()); });
                plus.on("drag", function (e) {
                    ring[i + 1] = e.target.getLatLng();
                    layer.redraw();
                });
                plus.on("dragend", function () {
                    layer.setLatLngs(layer.getLatLngs());
                    handles(layer, map, group);
                    send(layer);
                });
                group.addLayer(plus);
            });
        });
    }

    window.planner = Object.assign({}, window.planner, {
        gridStyle: function (feature, context) {
            const p = feature.properties;
            const selected = (context.hideout.selected || []).indexOf(p.id) >= 0;
            return {
                color: selected ? "#ffeb3b" : "#eceff1",
                weight: selected ? 4 : 1.5,
                fillColor: BAND_COLOURS[p.band] || BAND_COLOURS.none,
                fillOpacity: selected ? 0.45 : 0.3
            };
        },
        gridTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.options.className = "om-plan-grid om-grid-" + p.id;
            layer.bindTooltip("<b>" + p.name + "</b> " + p.code + "<br>" + p.households +
                              " 户 · v" + p.version, {sticky: true, className: "om-tip"});
        },
        proposalStyle: function (feature) {
            const p = feature.properties;
            return {color: p.status === "new" ? "#ff9800" : "#ffb74d", weight: 3,
                    dashArray: "8 6", fillColor: BAND_COLOURS[p.band] || BAND_COLOURS.none,
                    fillOpacity: 0.25};
        },
        proposalTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.options.interactive = false;
            layer.options.className = "om-plan-proposed";
            layer.bindTooltip(p.name + "<br>" + p.households + " 户",
                              {permanent: true, direction: "center", className: "om-plan-label"});
        },
        problemStyle: function (feature) {
            const error = feature.properties.severity === "error";
            return {color: error ? "#ff1744" : "#ffca28", weight: 2, fillOpacity: 0.55,
                    fillColor: error ? "#ff1744" : "#ffca28"};
        },
        problemPoint: function (feature, latlng) {
            const error = feature.properties.severity === "error";
            return L.circleMarker(latlng, {radius: 9, color: error ? "#ff1744" : "#ffca28",
                                           weight: 3, fillOpacity: 0.3});
        },
        compareStyle: function (feature, context) {
            const mark = (context.hideout.marked || []).indexOf(feature.properties.code) >= 0;
            return {color: mark ? "#ff9800" : "#b0bec5", weight: mark ? 3 : 1,
                    fillColor: mark ? "#ff9800" : "#1e88e5", fillOpacity: mark ? 0.35 : 0.08};
        },
        compareTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.bindTooltip(p.name + " · v" + p.version, {sticky: true, className: "om-tip"});
        },
        // The shape being edited: draggable vertices; each drag sends the shape to Dash.
        editableShape: function (feature, layer) {
            layer.options.className = "om-plan-editing";
            const group = L.layerGroup();
            layer.on("add", function () {
                group.addTo(layer._map);
                handles(layer, layer._map, group);
            });
            layer.on("remove", function () { group.remove(); });
        }
    });

    // Leaflet.draw's tooltips in Chinese once its chunk has loaded (the EditControl loads it).
    const zh = function () {
        if (!(window.L && L.drawLocal) || document.documentElement.lang === "en") { return false; }
        const d = L.drawLocal.draw.handlers;
        d.polyline.tooltip = {start: "点击开始画线", cont: "点击继续画线",
                              end: "点击最后一点结束"};
        d.polygon.tooltip = {start: "点击开始画网格", cont: "点击继续",
                             end: "点击第一点闭合"};
        return true;
    };
    const timer = setInterval(function () { if (zh()) { clearInterval(timer); } }, 500);
    setTimeout(function () { clearInterval(timer); }, 60000);
})();
