"""Reports in: validation, placement, storage once, workflow actions, escalation."""
