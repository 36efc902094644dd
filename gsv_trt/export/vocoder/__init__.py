"""Vocoder export: precision casting with fp32 islands, the exporter and its Polygraphy check."""
