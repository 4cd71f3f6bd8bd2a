"""OneMap (一张图): a geospatial command-center for grid-based community governance.

This package holds the glue: settings, the command line and the project's root exception.
The spatial core is `geo`, storage is `store`, importers are `loaders`, the web app is
`dashboard`.  Keep this ``__init__`` import-free so `geo` can use `onemap.errors` cheaply.
"""

__version__ = "0.1.0"
