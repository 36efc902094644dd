"""Fast paths for the SoVITS v3/v4 front end (the model itself stays plain in models/sovits)."""
