"""The Dash application and its HTTP API: pages read through `store.repository` only."""
