"""The demo's synthetic master and the replica's legacy tables (setup,
synthetic, sql/)."""
