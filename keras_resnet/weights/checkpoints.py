"""Reading PyTorch checkpoints as NumPy arrays, without torch and without running code from the file.

Three formats are read, told apart by their content:

- ``.safetensors``: a JSON header and raw little-endian tensors, read with the ``safetensors`` package's NumPy API.
- torch's zip format (``torch.save`` since torch 1.6): ``<archive>/data.pkl`` pickles the object with each storage
  replaced by a persistent id ``("storage", storage type, key, location, numel)``; the storage's bytes are the
  record ``<archive>/data/<key>``, in the byte order of the record ``<archive>/byteorder`` (little when absent).
- torch's legacy format (``_use_new_zipfile_serialization=False`` and torch < 1.6, e.g. the ``.th`` files of the
  CIFAR reference implementation): five pickles in a row (magic number, protocol version, system info, the object
  with persistent ids ``("storage", storage type, key, location, numel, view)``, the sorted storage keys), then each
  storage as an 8-byte element count and its raw bytes, in the saver's byte order.

Pickles are read by a restricted unpickler: the only globals it resolves are the handful torch uses to rebuild
tensors (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage``, ``collections.OrderedDict``...), each mapped to
a NumPy stand-in defined here; nothing is ever imported from the file's say-so, and any other global is refused.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch's legacy format starts with this pickled integer
PROTOCOL_VERSION = 1001

# torch storage type name -> NumPy dtype of its elements (bfloat16 is read as raw 16 bits, then widened).
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}
TORCH_DTYPES = {"float64": np.float64, "double": np.float64, "float32": np.float32, "float": np.float32,
                "float16": np.float16, "half": np.float16, "bfloat16": "bfloat16", "int64": np.int64,
                "long": np.int64, "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8,
                "uint8": np.uint8, "bool": np.bool_}
STATE_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "net")  # where trainers nest the weights


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only the element type matters here."""

    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    """One storage of a checkpoint: a flat array of ``numel`` elements, filled once its bytes are read."""

    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.data, self.byteorder = dtype, int(numel), None, "<"

    def fill(self, raw, byteorder, source):
        self.byteorder = byteorder
        bfloat16 = self.dtype == "bfloat16"  # the upper half of a float32: read as 16 bits, then widened
        dtype = np.dtype(np.uint16 if bfloat16 else self.dtype).newbyteorder(byteorder)
        if len(raw) < self.numel * dtype.itemsize:
            raise ValueError(f"{source}: a storage holds {len(raw)} bytes, {self.numel * dtype.itemsize} expected: "
                             "the file is truncated or corrupted")
        data = np.frombuffer(raw, dtype=dtype, count=self.numel).astype(dtype.newbyteorder("="))
        self.data = (data.astype(np.uint32) << 16).view(np.float32) if bfloat16 else data


class _Tensor:
    """A tensor waiting for its storage's bytes (legacy files store them after the pickle).

    ``dtype`` is set when the storage is untyped bytes (``_rebuild_tensor_v3``): the bytes are then read as it.
    """

    def __init__(self, storage, offset, size, stride, dtype=None):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)
        self.dtype = dtype

    def array(self):
        data = self.storage.data
        if data is None:
            raise ValueError("checkpoint refers to a storage whose bytes are missing: the file is truncated")
        if self.dtype is not None and (self.dtype == "bfloat16" or data.dtype != np.dtype(self.dtype)):
            if self.dtype == "bfloat16" or data.dtype != np.uint8:
                raise ValueError(f"checkpoint tensor of type {self.dtype} is not supported: save it as float32")
            data = data[:data.size - data.size % np.dtype(self.dtype).itemsize].view(
                np.dtype(self.dtype).newbyteorder(self.storage.byteorder)).astype(self.dtype)
        if 0 in self.size:
            return np.zeros(self.size, dtype=data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= data.size:
            raise ValueError(f"checkpoint tensor of shape {self.size} reaches past its storage of {data.size} "
                             "elements: the file is corrupted")
        view = np.lib.stride_tricks.as_strided(data[self.offset:], shape=self.size,
                                               strides=[s * data.itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_):
    """``torch._utils._rebuild_tensor`` and ``_rebuild_tensor_v2``; extra arguments (requires_grad, backward hooks,
    metadata) do not concern the values."""
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, *_):
    """torch's call for element types newer than its typed storages: untyped bytes plus a dtype."""
    return _Tensor(storage, storage_offset, size, stride, dtype=dtype)


def _rebuild_parameter(data, *_):
    return data


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only tensor-rebuilding globals, to NumPy stand-ins; storages come from ``storage_loader``."""

    def __init__(self, file, source, storage_loader):
        super().__init__(file, encoding="utf-8")
        self.source, self.storage_loader = source, storage_loader

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in ("torch", "torch.cuda", "torch.storage") and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        if module == "torch" and name in TORCH_DTYPES:
            return TORCH_DTYPES[name]
        raise ValueError(f"refusing to load {self.source}: the checkpoint asks for {module}.{name}; keras-resnet "
                         "never runs code from a checkpoint and reads only tensors, dicts and lists")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or _text(pid[0]) != "storage":
            raise ValueError(f"refusing to load {self.source}: unknown persistent id {pid!r} (not a torch storage)")
        try:
            return self.storage_loader(pid[1:])
        except (TypeError, ValueError) as error:
            if "refusing" in str(error) or "corrupted" in str(error) or "truncated" in str(error):
                raise
            raise ValueError(f"{self.source} is a corrupted torch checkpoint: bad storage {pid!r}") from None


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def _storage_type(value, source):
    if not isinstance(value, _StorageType):
        raise ValueError(f"refusing to load {source}: a storage of unknown type {value!r}")
    return value.dtype


def _arrays(obj):
    """The loaded object with every pending tensor turned into a NumPy array."""
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return type(obj)((key, _arrays(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(value) for value in obj)
    return obj


def _read_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{source} is a zip file but not a torch checkpoint (no <archive>/data.pkl): "
                             "TorchScript archives and other zips are not read")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "<"
        if f"{prefix}byteorder" in names:
            byteorder = {"little": "<", "big": ">"}.get(archive.read(f"{prefix}byteorder").decode().strip())
            if byteorder is None:
                raise ValueError(f"{source} declares an unknown byte order")
        storages = {}

        def load_storage(data):
            storage_type, key, _location, numel = data
            key = _text(key)
            if key not in storages:
                dtype = _storage_type(storage_type, source)
                storage = _Storage(dtype, numel)
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except KeyError:
                    raise ValueError(f"{source} lacks the storage record data/{key}: the file is corrupted") from None
                storage.fill(raw, byteorder, source)
                storages[key] = storage
            return storages[key]

        obj = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), source, load_storage).load()
    return _arrays(obj)


def _read_legacy(path, source):
    with open(path, "rb") as file:
        def restricted_load(loader):
            try:
                return _RestrictedUnpickler(file, source, loader).load()
            except (pickle.UnpicklingError, EOFError, struct.error) as error:
                raise ValueError(f"{source} is not a PyTorch checkpoint or safetensors file ({error})") from None

        def no_storage(_):
            raise ValueError(f"{source}: a storage outside the object pickle")

        if restricted_load(no_storage) != MAGIC_NUMBER:
            raise ValueError(f"{source} is not a PyTorch checkpoint (.pth/.pt/.th) or a .safetensors file")
        if restricted_load(no_storage) != PROTOCOL_VERSION:
            raise ValueError(f"{source} uses an unknown torch serialization protocol")
        sys_info = restricted_load(no_storage)
        byteorder = "<" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else ">"
        storages = {}

        def load_storage(data):
            storage_type, key, _location, numel, view = data
            key = _text(key)
            if key not in storages:
                storages[key] = _Storage(_storage_type(storage_type, source), numel)
            if view is not None:  # a view into a root storage (torch < 0.4)
                _view_key, offset, view_numel = view
                root = storages[key]
                return _View(root, int(offset), int(view_numel))
            return storages[key]

        obj = restricted_load(load_storage)
        keys = restricted_load(no_storage)
        for key in keys:
            storage = storages.get(_text(key))
            if storage is None:
                raise ValueError(f"{source} lists a storage {key!r} that no tensor uses: the file is corrupted")
            header = file.read(8)
            if len(header) != 8:
                raise ValueError(f"{source} is truncated: storage {key!r} is missing")
            (numel,) = struct.unpack(f"{byteorder}q", header)
            itemsize = 2 if storage.dtype == "bfloat16" else np.dtype(storage.dtype).itemsize
            if not 0 <= numel * itemsize <= os.fstat(file.fileno()).st_size - file.tell():
                raise ValueError(f"{source} is truncated or corrupted: storage {key!r} claims {numel} elements")
            storage.numel = numel
            storage.fill(file.read(numel * itemsize), byteorder, source)
    return _arrays(_resolve_views(obj))


class _View:
    """A storage view of old legacy files: ``numel`` elements of ``root`` from ``offset``."""

    def __init__(self, root, offset, numel):
        self.root, self.offset, self.numel = root, offset, numel


def _resolve_views(obj):
    if isinstance(obj, _Tensor) and isinstance(obj.storage, _View):
        view = obj.storage
        return _Tensor(view.root, view.offset + obj.offset, obj.size, obj.stride)
    if isinstance(obj, dict):
        return type(obj)((key, _resolve_views(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve_views(value) for value in obj)
    return obj


def _is_safetensors(path):
    with open(path, "rb") as file:
        head = file.read(9)
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= os.path.getsize(path) and head[8:9] == b"{"


def _state_dict(obj, source):
    """The flat ``{name: array}`` inside a loaded checkpoint: unwraps ``state_dict``/``model`` entries and the
    ``module.`` prefix of ``DataParallel``; drops entries that are not arrays (epoch counters, accuracies)."""
    for _ in range(3):  # {"state_dict": {...}, "best_prec1": ...}, {"model": {...}, "optimizer": ...}
        nested = [obj[key] for key in STATE_KEYS if isinstance(obj, dict) and isinstance(obj.get(key), dict)]
        if not nested:
            break
        obj = nested[0]
    if not isinstance(obj, dict):
        raise ValueError(f"{source} holds a {type(obj).__name__}, not a state dict: save model.state_dict()")
    state = {str(key): value for key, value in obj.items() if isinstance(value, np.ndarray)}
    if not state:
        raise ValueError(f"{source} holds no tensors (keys: {sorted(map(str, obj))[:8]})")
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def read_state_dict(path):
    """Reads the tensors of a PyTorch checkpoint or safetensors file as NumPy arrays, running no code from it.

    Args:
        path: a ``.safetensors`` file, or a ``torch.save`` file (``.pth``/``.pt``/``.th``, zip or legacy format)
            holding a state dict, possibly nested under ``"state_dict"`` or ``"model"`` and prefixed ``module.``.

    Returns:
        ``{parameter name: np.ndarray}`` with torch's shapes (convolution kernels ``(out, in, kh, kw)``).

    Raises:
        ValueError: the file is not a checkpoint, is corrupted, or its pickle asks for anything but tensors
            (e.g. ``os.system``): nothing from it is executed.
    """
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise ValueError(f"Checkpoint not found: {source!r}")
    with open(source, "rb") as file:
        if file.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(source):
            raise ValueError(f"{source} is a truncated or corrupted zip checkpoint: download it again")
    if zipfile.is_zipfile(source):
        try:
            obj = _read_zip(source, source)
        except (pickle.UnpicklingError, EOFError, TypeError, KeyError, IndexError, AttributeError, zipfile.BadZipFile,
                struct.error) as error:
            raise ValueError(f"{source} is a corrupted torch checkpoint ({type(error).__name__}: {error})") from None
    elif source.endswith(".safetensors") or _is_safetensors(source):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            obj = load_file(source)
        except (SafetensorError, ValueError, TypeError) as error:
            raise ValueError(f"{source} is not a readable safetensors file ({error})") from None
    else:
        try:
            obj = _read_legacy(source, source)
        except (TypeError, KeyError, IndexError, AttributeError) as error:
            raise ValueError(f"{source} is a corrupted torch checkpoint ({type(error).__name__}: {error})") from None
    return _state_dict(obj, source)
