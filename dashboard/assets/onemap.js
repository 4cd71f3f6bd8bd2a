// OneMap map functions, referenced from Python as {"variable": "onemap.<name>"}.
window.onemap = Object.assign({}, window.onemap, {
    // Style a unit by its level: higher levels thicker and brighter (hideout.levelStyles).
    unitStyle: function (feature, context) {
        const styles = context.hideout.levelStyles;
        const level = feature.properties.level;
        return styles[Math.min(level, styles.length - 1)];
    },
    // Name on hover, for every unit.
    unitTooltip: function (feature, layer) {
        const p = feature.properties;
        layer.bindTooltip(p.name + " (" + p.code + ")", {sticky: true, className: "om-tip"});
    }
});
