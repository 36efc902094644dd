"""The overlay on a user's own GPT-SoVITS checkout: no fork, no edited upstream files.

``upstream.py`` finds a checkout and makes its modules importable the way upstream's scripts expect (working
directory = the checkout, ``GPT_SoVITS/`` on ``sys.path``); ``random_models/`` writes random-weight model files in
upstream's own layouts, so upstream's ``TTS`` and api_v2 can run without the pretrained downloads (tests, CPU
benchmarks). Nothing here changes upstream's pipeline.
"""
