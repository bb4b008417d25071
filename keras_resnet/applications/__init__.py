"""The named networks with the conventions of ``keras.applications``: ``ResNet(spec, weights=...)``, the registry of
names (``build``, ``list_models``), the ``ResNet50()``-style constructors, backbone features, the preprocessing of
published weights and checkpoint conversion by name. Backend-agnostic: no TensorFlow.
"""
