"""CFM export: the DiT as two graphs (conditioner once per call, one Euler step), precision with fp32 islands, and
their Polygraphy check."""
