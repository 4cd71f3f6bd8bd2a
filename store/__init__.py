"""The one data-access layer: the embedded cluster, engines, schema, migrations and every query
the application runs (``store.repository``)."""
