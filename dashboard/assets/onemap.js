// OneMap map functions, referenced from Python as {"variable": "onemap.<name>"}.
// Styles read `context.hideout`, so colour changes travel without re-sending geometry.
(function () {
    const STATUS_COLOURS = {
        unlocated: "#9e9e9e", received: "#4fc3f7", dispatched: "#29b6f6", accepted: "#26c6da",
        in_progress: "#26a69a", escalated: "#ffa726", returned: "#ab47bc", reopened: "#ec407a",
        resolved: "#66bb6a", rated: "#9ccc65", closed: "#78909c"
    };
    const OVERDUE = "#ff1744";

    function pickClass(value, limits) {
        if (value === null || value === undefined || !isFinite(value)) { return -1; }
        for (let i = 0; i < limits.length; i++) { if (value <= limits[i]) { return i; } }
        return limits.length - 1;
    }

    // `format` is the measure's entry of the registry (geo.measures), sent in the hideout.
    function formatValue(value, format) {
        if (value === null || value === undefined || !isFinite(value)) { return "–"; }
        const kind = (format && format.kind) || "count";
        if (kind === "rate") { return Math.round(value * 100) + "%"; }
        if (kind === "ratio" || kind === "change") { return value.toFixed(format.decimals); }
        return Math.round(value).toLocaleString();
    }

    function current(p, hideout) {
        const o = (hideout && hideout.overrides && hideout.overrides[String(p.id)]) || null;
        return o ? Object.assign({}, p, o) : p;
    }

    function showTilesNotice() {
        const notice = document.getElementById("tiles-notice");
        if (notice && notice.style.display === "none") { notice.style.display = "block"; }
        document.querySelectorAll(".leaflet-tile-pane").forEach(function (pane) {
            pane.style.visibility = "hidden";
        });
    }
    // A tile server that cannot be reached must not leave grey squares over the map.
    document.addEventListener("error", function (e) {
        const el = e.target;
        if (el && el.classList && el.classList.contains("leaflet-tile")) { showTilesNotice(); }
    }, true);

    window.onemap = Object.assign({}, window.onemap, {
        // Outline by level: higher levels thicker and brighter (hideout.levelStyles).
        unitStyle: function (feature, context) {
            const styles = context.hideout.levelStyles;
            const level = feature.properties.level;
            return Object.assign({}, styles[Math.min(level, styles.length - 1)],
                                 {fillOpacity: 0});
        },
        // Choropleth of the chosen measure; outline weight still says the level.
        choroplethStyle: function (feature, context) {
            const h = context.hideout || {};
            window.onemap._hideout = h;
            const value = (h.values || {})[String(feature.properties.id)];
            const k = pickClass(value, h.limits || []);
            const weights = [4, 2.5, 1.6, 0.9];
            return {
                color: "#cfd8dc", weight: weights[Math.min(feature.properties.level, 3)],
                opacity: 0.9, fillColor: k < 0 ? (h.noData || "#3a4657") : h.colours[k],
                fillOpacity: k < 0 ? 0.25 : 0.62
            };
        },
        // Outlines and density cells above the units must let hovers and clicks through:
        // GeoJSON's `interactive` prop does not reach the paths, so set it per feature.
        passive: function (feature, layer) { layer.options.interactive = false; },
        hoverStyle: function () { return {weight: 4, color: "#ffffff", fillOpacity: 0.75}; },
        // Name and current value on hover (the value follows the latest hideout).
        unitTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.options.className = "om-unit";  // before the path exists: tests find units
            layer.bindTooltip(function () {
                const h = window.onemap._hideout || {};
                const value = (h.values || {})[String(p.id)];
                const shown = h.measure ? " · " + formatValue(value, h.format) : "";
                return p.name + " (" + p.code + ")" + shown;
            }, {sticky: true, className: "om-tip"});
        },
        // Permanent labels: readable from across the room without hovering.
        labelMarker: function (feature, latlng) {
            const p = feature.properties;
            return L.marker(latlng, {interactive: false, icon: L.divIcon({
                className: "om-label",
                html: "<span class='om-label-name'>" + p.name + "</span><span " +
                      "class='om-label-value'>" + p.value + "</span>",
                iconSize: null})});
        },
        densityStyle: function (feature) {
            const p = feature.properties;
            const share = p.max > 0 ? p.n / p.max : 0;
            const ramp = ["#fff3b0", "#ffd166", "#f8961e", "#f3722c", "#d62828"];
            const colour = ramp[Math.min(ramp.length - 1, Math.floor(share * ramp.length))];
            return {weight: 0, fillColor: colour, fillOpacity: 0.35 + 0.45 * share};
        },
        // Incidents: colour by status; overdue ones red and ringed, high severity larger.
        incidentMarker: function (feature, latlng, context) {
            const p = current(feature.properties, context && context.hideout);
            const high = p.severity === "high";
            const marker = L.circleMarker(latlng, {
                radius: high ? 9 : 6, weight: p.overdue ? 4 : 1.5,
                color: p.overdue ? OVERDUE : "#0b1220",
                fillColor: p.overdue ? OVERDUE : (STATUS_COLOURS[p.status] || "#4fc3f7"),
                fillOpacity: 0.95, className: "om-incident" + (p.overdue ? " om-overdue" : "")
            });
            return marker;
        },
        // Households: a circle per grid sized by its count far out; single homes close in.
        countMarker: function (feature, latlng) {
            const p = feature.properties;
            if (p.kind === "household") {
                return L.circleMarker(latlng, {radius: 3, weight: 0, fillColor: "#b39ddb",
                                               fillOpacity: 0.9})
                    .bindTooltip(p.address + " · " + p.size + "人", {className: "om-tip"});
            }
            return L.circleMarker(latlng, {radius: 3 + Math.sqrt(p.n) / 2, weight: 1,
                                           color: "#d1c4e9", fillColor: "#7e57c2",
                                           fillOpacity: 0.45})
                .bindTooltip(p.name + " · " + p.n + " 户 / " + p.persons + " 人",
                             {className: "om-tip"});
        },
        cameraMarker: function (feature, latlng) {
            const p = feature.properties;
            const online = p.status === "online";
            const icon = L.divIcon({className: "om-camera-icon " + (online ? "om-cam-online" :
                                                                        "om-cam-offline"),
                                    html: "◉", iconSize: [18, 18]});
            const link = p.stream_url ? "<br><a href='" + p.stream_url + "' target='_blank'>" +
                                        p.stream_url + "</a>" : "";
            return L.marker(latlng, {icon: icon}).bindPopup(
                "<b>" + p.name + "</b><br>" + p.code + " · " + (online ? "在线 online" :
                                                               "离线 offline") + link);
        },
        workerMarker: function (feature, latlng) {
            const p = feature.properties;
            const icon = L.divIcon({className: "om-worker-icon", html: "●", iconSize: [14, 14]});
            return L.marker(latlng, {icon: icon}).bindPopup(
                "<b>" + p.name + "</b><br>" + (p.phone || "") + "<br>" + p.grid);
        }
    });
})();
