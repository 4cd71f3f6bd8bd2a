"""The grid-planning service (`planning.service`): preview, save and file import for the
planner page, `onemap plan` and the QGIS round trip."""
