// Monthly page map functions, referenced from Python as {"variable": "monthly.<name>"}.
// Colours come from onemap.choroplethStyle (hideout: values, limits, colours); the tooltip
// reads the unit's preformatted numbers from hideout.tips, so a measure switch re-colours and
// re-labels without re-sending any shape.
(function () {
    window.monthly = Object.assign({}, window.monthly, {
        unitTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.options.className = "om-unit om-month-unit-" + p.id;
            layer.bindTooltip(function () {
                const h = (window.onemap && window.onemap._hideout) || {};
                const tip = (h.tips || {})[String(p.id)] || "";
                return "<b>" + p.name + "</b> (" + p.code + ")<br>" + tip;
            }, {sticky: true, className: "om-tip"});
        },
        hotStyle: function (feature) {
            const p = feature.properties;
            const hot = p.confidence > 0;
            return {
                color: p.new ? "#ffeb3b" : (hot ? "#ff1744" : "#40c4ff"),
                weight: p.new ? 4 : 2.5, dashArray: p.new ? "6 4" : null,
                fillColor: hot ? "#ff1744" : "#40c4ff",
                fillOpacity: Math.abs(p.confidence) >= 99 ? 0.35 :
                             Math.abs(p.confidence) >= 95 ? 0.25 : 0.12
            };
        },
        hotTooltip: function (feature, layer) {
            const p = feature.properties;
            layer.options.interactive = true;
            layer.bindTooltip("<b>" + p.name + "</b><br>Gi* z = " + p.z.toFixed(2) + " · " +
                              (p.confidence > 0 ? "热点 hot " : "冷点 cold ") +
                              Math.abs(p.confidence) + "%" + (p.new ? " · 新增 new" : "") +
                              "<br>" + p.count + " 件", {sticky: true, className: "om-tip"});
        }
    });
})();
