"""Dash pages only: the command wall, the grid planner and the monthly maps (layouts, callbacks,
view helpers) and the map layers they fetch by URL. Pages call services and read through
`store`; the HTTP doors for reports are `intake.http`."""
