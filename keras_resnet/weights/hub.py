"""Models on the Hugging Face Hub: ``hf://owner/name`` handles wherever a model file is read.

``resolve("hf://owner/name")`` is the model in the repository's local snapshot, which ``huggingface_hub`` downloads
into its cache (``HF_HUB_CACHE``, ``~/.cache/huggingface/hub``) or, offline (``HF_HUB_OFFLINE=1``), finds there:

- the repository's ``model.keras`` (or its only ``.keras`` file): what a run writes, uploaded with the
  ``preprocessing.json`` beside it (``huggingface_hub.upload_folder``);
- or the repository itself when it holds Keras' own layout (``config.json`` + ``model.weights.h5``), which
  ``model.save("hf://owner/name")`` uploads and ``keras.saving.load_model("hf://owner/name")`` reads.

``hf://owner/name@revision`` takes a branch, tag or commit; ``hf://owner/name/path/file.keras`` one file of several.
Only the files a model needs are fetched (``MODEL_FILES``), not exports that lie beside it. Every failure is one
``ValueError`` line: the library missing, a repository unknown or not cached offline, no model in it.
"""

import os
import re

PREFIX = "hf://"
# The syntax of huggingface_hub's hf:// URIs, for model repositories: owner/name[@revision][/path in the repo].
HANDLE = re.compile(r"hf://(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>refs/pr/\d+|[^/]+))?(?:/(?P<path>.+))?")
# What loading needs: .keras files, Keras' folder layout, and preprocessing.json (SavedModels, TFLite files and
# other exports in the same repository are not fetched).
MODEL_FILES = ["*.keras", "*.json", "*.weights.h5", "*.weights.npz", "assets/*"]
KERAS_FOLDER = ("config.json", "model.weights.h5")


def is_handle(path):
    """Whether ``path`` is an ``hf://`` handle (a string; paths and registry names are not)."""
    return isinstance(path, str) and path.startswith(PREFIX)


def resolve(path):
    """``path`` itself unless it is an ``hf://`` handle; a handle -> the local path of its model: the ``.keras``
    file of the repository's snapshot, or the snapshot folder for Keras' folder layout (see the module)."""
    if not is_handle(path):
        return path
    match = HANDLE.fullmatch(path)
    if match is None:
        raise ValueError(f"{path!r} is not a Hugging Face Hub handle: write hf://owner/name, hf://owner/name@revision "
                         "or hf://owner/name/file.keras.")
    folder = _snapshot(path, match["repo"], match["revision"], match["path"])
    if match["path"]:
        found = os.path.join(folder, *match["path"].split("/"))
        if not os.path.exists(found):
            raise ValueError(f"{path!r}: the repository has no {match['path']!r}.")
        return found
    return _model_in(folder, path)


def _snapshot(handle, repo_id, revision, path_in_repo):
    """The local snapshot folder of ``repo_id`` at ``revision`` (downloaded, or from the cache offline)."""
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
    except ImportError:
        raise ValueError(f"{handle!r} is a Hugging Face Hub model: install huggingface_hub to read it "
                         "(pip install -e '.[hub]' in this repository, or pip install huggingface_hub).") from None
    patterns = [path_in_repo, f"{path_in_repo}/*"] if path_in_repo else MODEL_FILES
    try:
        return huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=patterns,
                                                 library_name="keras-resnet")
    except errors.RevisionNotFoundError:
        raise ValueError(f"{handle!r}: the repository {repo_id} has no revision {revision!r}.") from None
    except errors.RepositoryNotFoundError:  # also private and gated repositories without a token
        raise ValueError(f"{handle!r}: no model repository {repo_id} on the Hugging Face Hub (a private or gated one "
                         "needs a token: hf auth login).") from None
    except errors.LocalEntryNotFoundError:  # offline, or the Hub unreachable, and no (complete) snapshot cached
        raise ValueError(f"{handle!r} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub "
                         "cannot be reached (HF_HUB_OFFLINE is set, or no network): download it once online, or "
                         "pass a local .keras file.") from None
    except ValueError as error:  # the library's validation of the repository id
        raise ValueError(f"{handle!r} is not a Hugging Face Hub handle ({str(error).splitlines()[0][:200]}).") \
            from None
    except (errors.HfHubHTTPError, OSError) as error:
        raise ValueError(f"Could not download {handle!r} from the Hugging Face Hub ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200] if str(error) else ''}).") from None


def _model_in(folder, handle):
    """The model of a snapshot ``folder``: its ``model.keras``, its only ``.keras`` file, or the folder itself in
    Keras' layout."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(".keras"))
    if "model.keras" in names or len(names) == 1:
        return os.path.join(folder, "model.keras" if "model.keras" in names else names[0])
    if names:
        raise ValueError(f"{handle!r} holds several .keras files ({', '.join(names)}): name one, e.g. "
                         f"{handle}/{names[0]}.")
    if is_keras_folder(folder):
        return folder
    raise ValueError(f"{handle!r} holds no Keras model: neither a .keras file nor Keras' folder layout (config.json "
                     "and model.weights.h5, as model.save('hf://owner/name') uploads).")


def is_keras_folder(path):
    """Whether ``path`` is a folder in Keras' layout (``config.json`` + ``model.weights.h5``)."""
    return os.path.isdir(path) and all(os.path.isfile(os.path.join(path, name)) for name in KERAS_FOLDER)


__all__ = ["is_handle", "is_keras_folder", "resolve"]
