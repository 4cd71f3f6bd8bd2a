"""Files and generated data in: importers, the built-in sample and (later) the demo regions."""
