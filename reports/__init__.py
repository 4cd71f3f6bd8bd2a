"""Monthly situation reports (#8): the report object (:mod:`reports.monthly`), its Chinese
narrative (:mod:`reports.narrative`) and offline HTML/PNG/PDF exports (:mod:`reports.export`)."""
