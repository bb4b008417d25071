"""Using a model: opening a model file, and the doors that feed it images through its inference contract:
``predict``, ``evaluate`` (the paper's 1-crop and 10-crop testing) and ``explain`` (Grad-CAM).
"""
