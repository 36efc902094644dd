"""What a run found, in three forms: report.json (everything, machine-readable), report.md with PNG plots (for
people and BENCHMARKS.md), and the terminal summary. All three are made from the same report dict."""
