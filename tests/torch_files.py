"""Test helpers: PyTorch networks written from PyTorch's definitions, in NumPy.

- ``torchvision_state`` / ``cifar_reference_state``: random state dicts with the parameter names and shapes of
  torchvision's ResNets and of the reference CIFAR re-implementation (random weights and BN statistics).
- ``torchvision_forward`` / ``cifar_reference_forward``: their forward pass in eval mode, NCHW, OIHW kernels,
  symmetric padding, float64.
- ``save_zip`` / ``save_legacy``: ``torch.save``'s two file layouts, written without torch: the pickle records the
  same globals torch records (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``...) and the same
  persistent ids, the storages lie where torch puts them.
"""

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
# numpy dtype -> torch storage; uint16 arrays carry bfloat16 bits (torch has no uint16 typed storage).
STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
                 np.dtype(np.uint16): "BFloat16Storage"}

TORCHVISION_LAYERS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


# --- state dicts --------------------------------------------------------------------------------------------------

def _conv(state, rng, key, out, inp, k):
    state[f"{key}.weight"] = rng.normal(0, np.sqrt(2.0 / (inp * k * k)), (out, inp, k, k)).astype(np.float32)


def _bn(state, rng, key, channels, gamma=1.0):
    state[f"{key}.weight"] = (gamma * rng.uniform(0.5, 1.5, channels)).astype(np.float32)
    state[f"{key}.bias"] = rng.normal(0, 0.1, channels).astype(np.float32)
    state[f"{key}.running_mean"] = rng.normal(0, 0.1, channels).astype(np.float32)
    state[f"{key}.running_var"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    state[f"{key}.num_batches_tracked"] = np.array(rng.integers(1, 1000), dtype=np.int64)


def torchvision_state(depth, rng, classes=1000):
    """torchvision's ``resnet{depth}().state_dict()`` with random values (last BN of each block damped so that
    random deep nets keep moderate activations)."""
    block, counts = TORCHVISION_LAYERS[depth]
    expansion = 1 if block == "basic" else 4
    state = {}
    _conv(state, rng, "conv1", 64, 3, 7)
    _bn(state, rng, "bn1", 64)
    inplanes = 64
    for index, (planes, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for b in range(count):
            prefix = f"layer{index + 1}.{b}"
            stride = 2 if index > 0 and b == 0 else 1
            if block == "basic":
                _conv(state, rng, f"{prefix}.conv1", planes, inplanes, 3)
                _bn(state, rng, f"{prefix}.bn1", planes)
                _conv(state, rng, f"{prefix}.conv2", planes, planes, 3)
                _bn(state, rng, f"{prefix}.bn2", planes, gamma=0.3)
            else:
                _conv(state, rng, f"{prefix}.conv1", planes, inplanes, 1)
                _bn(state, rng, f"{prefix}.bn1", planes)
                _conv(state, rng, f"{prefix}.conv2", planes, planes, 3)
                _bn(state, rng, f"{prefix}.bn2", planes)
                _conv(state, rng, f"{prefix}.conv3", planes * 4, planes, 1)
                _bn(state, rng, f"{prefix}.bn3", planes * 4, gamma=0.3)
            if stride != 1 or inplanes != planes * expansion:
                _conv(state, rng, f"{prefix}.downsample.0", planes * expansion, inplanes, 1)
                _bn(state, rng, f"{prefix}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    state["fc.weight"] = rng.normal(0, 0.05, (classes, inplanes)).astype(np.float32)
    state["fc.bias"] = rng.normal(0, 0.1, classes).astype(np.float32)
    return state


def cifar_reference_state(depth, rng, classes=10):
    """The reference CIFAR ResNet's ``state_dict()`` (option A: no shortcut parameters) with random values."""
    n = (depth - 2) // 6
    state = {}
    _conv(state, rng, "conv1", 16, 3, 3)
    _bn(state, rng, "bn1", 16)
    inplanes = 16
    for index, planes in enumerate((16, 32, 64)):
        for b in range(n):
            prefix = f"layer{index + 1}.{b}"
            _conv(state, rng, f"{prefix}.conv1", planes, inplanes, 3)
            _bn(state, rng, f"{prefix}.bn1", planes)
            _conv(state, rng, f"{prefix}.conv2", planes, planes, 3)
            _bn(state, rng, f"{prefix}.bn2", planes, gamma=0.3)
            inplanes = planes
    state["linear.weight"] = rng.normal(0, 0.1, (classes, 64)).astype(np.float32)
    state["linear.bias"] = rng.normal(0, 0.1, classes).astype(np.float32)
    return state


# --- forward passes -----------------------------------------------------------------------------------------------

def conv2d(x, weight, stride, padding):
    """``torch.nn.functional.conv2d``: x ``(N, C, H, W)``, weight ``(O, C, kh, kw)``, zero padding on all sides."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = weight.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)


def batch_norm(x, state, key, eps=1e-5):
    """``BatchNorm2d`` in eval mode."""
    shape = (1, -1, 1, 1)
    mean, var = state[f"{key}.running_mean"].reshape(shape), state[f"{key}.running_var"].reshape(shape)
    return (x - mean) / np.sqrt(var + eps) * state[f"{key}.weight"].reshape(shape) + state[f"{key}.bias"].reshape(shape)


def max_pool_3x3_s2_p1(x):
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(-2, -1))


def relu(x):
    return np.maximum(x, 0)


def torchvision_forward(state, x, depth):
    """torchvision's ``ResNet.forward`` (eval mode): x ``(N, 3, H, W)`` -> logits ``(N, classes)``."""
    state = {key: value.astype(np.float64) for key, value in state.items()}
    block, counts = TORCHVISION_LAYERS[depth]
    x = relu(batch_norm(conv2d(x, state["conv1.weight"], 2, 3), state, "bn1"))
    x = max_pool_3x3_s2_p1(x)
    for index, count in enumerate(counts):
        for b in range(count):
            prefix = f"layer{index + 1}.{b}"
            stride = 2 if index > 0 and b == 0 else 1
            if block == "basic":
                out = relu(batch_norm(conv2d(x, state[f"{prefix}.conv1.weight"], stride, 1), state, f"{prefix}.bn1"))
                out = batch_norm(conv2d(out, state[f"{prefix}.conv2.weight"], 1, 1), state, f"{prefix}.bn2")
            else:  # v1.5: the stride is on the 3x3
                out = relu(batch_norm(conv2d(x, state[f"{prefix}.conv1.weight"], 1, 0), state, f"{prefix}.bn1"))
                out = relu(batch_norm(conv2d(out, state[f"{prefix}.conv2.weight"], stride, 1), state,
                                      f"{prefix}.bn2"))
                out = batch_norm(conv2d(out, state[f"{prefix}.conv3.weight"], 1, 0), state, f"{prefix}.bn3")
            identity = x
            if f"{prefix}.downsample.0.weight" in state:
                identity = batch_norm(conv2d(x, state[f"{prefix}.downsample.0.weight"], stride, 0), state,
                                      f"{prefix}.downsample.1")
            x = relu(out + identity)
    x = x.mean(axis=(2, 3))
    return x @ state["fc.weight"].T + state["fc.bias"]


def cifar_reference_forward(state, x, depth):
    """The reference CIFAR ResNet's forward (eval mode, option A): x ``(N, 3, 32, 32)`` -> logits."""
    state = {key: value.astype(np.float64) for key, value in state.items()}
    n = (depth - 2) // 6
    x = relu(batch_norm(conv2d(x, state["conv1.weight"], 1, 1), state, "bn1"))
    inplanes = 16
    for index, planes in enumerate((16, 32, 64)):
        for b in range(n):
            prefix = f"layer{index + 1}.{b}"
            stride = 2 if index > 0 and b == 0 else 1
            out = relu(batch_norm(conv2d(x, state[f"{prefix}.conv1.weight"], stride, 1), state, f"{prefix}.bn1"))
            out = batch_norm(conv2d(out, state[f"{prefix}.conv2.weight"], 1, 1), state, f"{prefix}.bn2")
            shortcut = x
            if stride != 1 or inplanes != planes:  # subsample, planes // 4 zero channels on both sides
                pad = planes // 4
                shortcut = np.pad(x[:, :, ::2, ::2], ((0, 0), (pad, pad), (0, 0), (0, 0)))
            x = relu(out + shortcut)
            inplanes = planes
    x = x.mean(axis=(2, 3))
    return x @ state["linear.weight"].T + state["linear.bias"]


# --- torch.save's file layouts ------------------------------------------------------------------------------------

@contextlib.contextmanager
def _torch_names():
    """Modules named ``torch`` and ``torch._utils`` holding stand-ins, so that pickle records torch's globals."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name goes into the pickle
        raise AssertionError("stand-in")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    saved = {key: sys.modules.get(key) for key in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch, utils
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


class _Storage:
    def __init__(self, data):
        self.data = np.ascontiguousarray(data).ravel()


class _Tensor:
    """Reduces as torch's tensors do: ``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``."""

    def __init__(self, storage, offset, shape, stride, rebuild):
        self.args = (storage, offset, tuple(shape), tuple(stride), False, collections.OrderedDict())
        self.rebuild = rebuild

    def __reduce__(self):
        return self.rebuild, self.args


def _tensors(state, rebuild, share=False):
    """Each array as a tensor on its own storage; with ``share``, pairs of arrays share one storage (a tensor at
    an offset into it, as views of one buffer are saved) and 2-D arrays are saved transposed-strided."""
    tensors, storages = collections.OrderedDict(), []
    items = list(state.items())
    index = 0
    while index < len(items):
        key, value = items[index]
        value = np.asarray(value)
        if share and index + 1 < len(items) and items[index + 1][1].dtype == value.dtype:
            other_key, other = items[index + 1]
            storage = _Storage(np.concatenate([value.ravel(), np.asarray(other).ravel()]))
            storages.append(storage)
            tensors[key] = _Tensor(storage, 0, value.shape, _strides(value.shape), rebuild)
            tensors[other_key] = _Tensor(storage, value.size, other.shape, _strides(other.shape), rebuild)
            index += 2
            continue
        if share and value.ndim == 2:  # a column-major (transposed) layout: same values, other strides
            storage = _Storage(value.T)
            tensors[key] = _Tensor(storage, 0, value.shape, (1, value.shape[0]), rebuild)
        else:
            storage = _Storage(value)
            tensors[key] = _Tensor(storage, 0, value.shape, _strides(value.shape), rebuild)
        storages.append(storage)
        index += 1
    return tensors, storages


def _strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _state_object(tensors, wrap):
    state = collections.OrderedDict(tensors)
    state._metadata = collections.OrderedDict([("", {"version": 1})])  # as Module.state_dict() adds
    return wrap(state) if wrap else state


def save_zip(state, path, wrap=None, share=False, archive="archive", byteorder="little"):
    """``torch.save(obj, path)`` (zip format): ``obj`` is the state dict, or ``wrap(state_dict)``; storages in
    ``byteorder``, as the ``byteorder`` record says."""
    with _torch_names() as (torch, utils):
        tensors, storages = _tensors(state, utils._rebuild_tensor_v2, share)
        keys = {id(storage): str(index) for index, storage in enumerate(storages)}

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Storage):
                    storage_type = getattr(torch, STORAGE_NAMES[obj.data.dtype])
                    return ("storage", storage_type, keys[id(obj)], "cpu", obj.data.size)
                return None

        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(_state_object(tensors, wrap))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as file:
        file.writestr(f"{archive}/data.pkl", buffer.getvalue())
        file.writestr(f"{archive}/byteorder", byteorder)
        order = "<" if byteorder == "little" else ">"
        for storage in storages:
            data = storage.data
            file.writestr(f"{archive}/data/{keys[id(storage)]}", data.astype(data.dtype.newbyteorder(order)).tobytes())
        file.writestr(f"{archive}/version", "3\n")


def save_legacy(state, path, wrap=None, share=False):
    """``torch.save(obj, path, _use_new_zipfile_serialization=False)``: magic number, protocol version, system
    info, the object, the sorted storage keys, then each storage as its element count and bytes."""
    with _torch_names() as (torch, utils):
        tensors, storages = _tensors(state, utils._rebuild_tensor_v2, share)
        keys = {id(storage): str(1000 + index) for index, storage in enumerate(storages)}

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, _Storage):
                    storage_type = getattr(torch, STORAGE_NAMES[obj.data.dtype])
                    return ("storage", storage_type, keys[id(obj)], "cuda:0", obj.data.size, None)
                return None

        with open(path, "wb") as file:
            pickle.dump(MAGIC_NUMBER, file, protocol=2)
            pickle.dump(1001, file, protocol=2)
            pickle.dump({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, file, protocol=2)
            Pickler(file, protocol=2).dump(_state_object(tensors, wrap))
            by_key = {keys[id(storage)]: storage for storage in storages}
            pickle.dump(sorted(by_key), file, protocol=2)
            for key in sorted(by_key):
                data = by_key[key].data
                file.write(struct.pack("<q", data.size))
                file.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
