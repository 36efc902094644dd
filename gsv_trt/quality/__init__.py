"""Quality of a candidate vocoder against the fp32 eager reference: upstream-exact mels from real speech, waveform
and spectral metrics, and the per-precision gate that decides whether an optimisation may be used."""
