"""The networks of [He16] and [He16b] as architecture: the depth tables (``architectures``), the frozen ``ArchSpec``
(``spec``), custom layers, the blocks with the paper's names, the model class that carries its spec and inference
contract (``network``, ``contract``), the assembly of stem -> stages -> head, fine-tuning heads, FLOP counts and the
top-k metric. Backend-agnostic Keras 3 (``keras``, ``keras.ops``): no TensorFlow.
"""
