"""Query a model served by TF Serving over its REST API, and print the top-k labels of each image.

    python saved_models/client.py http://localhost:8501/v1/models/resnet20-digits:predict seven.png three.jpg
    python saved_models/client.py URL --digits 5                      # five digits of the test split, as PNG
    python saved_models/client.py URL --signature serving_default seven.png     # decoded here, sent as uint8

``predict_jpeg`` (the default) sends the encoded files, ``{"b64": ...}`` per image; ``serving_default`` sends the
decoded pixels, one nested list ``(height, width, 3)`` of uint8 per image. The server answers in the row format:
``{"predictions": [{"labels": [...], "scores": [...], "classes": [...], "probabilities": [...]}, ...]}``.
Only the standard library is needed for encoded files; ``serving_default`` and ``--digits`` need numpy and Pillow.
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request


def jpeg_request(encoded_images):
    """REST body (a dict) for ``predict_jpeg``: ``encoded_images`` is a list of JPEG or PNG file contents (bytes)."""
    if not encoded_images:
        raise ValueError("Give at least one image.")
    return {"signature_name": "predict_jpeg",
            "instances": [{"b64": base64.b64encode(data).decode("ascii")} for data in encoded_images]}


def pixels_request(images):
    """REST body (a dict) for ``serving_default``: ``images`` is a list of uint8 ``(height, width, 3)`` arrays."""
    if len(images) == 0:
        raise ValueError("Give at least one image.")
    instances = []
    for image in images:
        if image.dtype.name != "uint8" or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"serving_default takes uint8 (height, width, 3) RGB images, got {image.dtype.name} "
                             f"{tuple(image.shape)}: convert with image.astype('uint8') and drop or add channels.")
        instances.append(image.tolist())
    return {"signature_name": "serving_default", "instances": instances}


def top_k(response, k=None):
    """``[[(label, score), ...] best first, one list per image]`` from a TF Serving response (dict)."""
    if "error" in response:
        raise RuntimeError(f"The server answered with an error: {response['error']}")
    return [list(zip(prediction["labels"], prediction["scores"]))[:k] for prediction in response["predictions"]]


def send(url, body, timeout=30):
    """POSTs the JSON ``body`` to ``url`` (``.../v1/models/<name>:predict``); returns the decoded response."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:  # TF Serving puts its message in a JSON body
        return json.load(error)


def _read_pixels(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype="uint8")


def _test_digits(count):
    """``(PNG bytes, label)`` of the first ``count`` images of the digits test split, as the model was tested."""
    import io

    from PIL import Image

    from keras_resnet import data

    source = data.load("digits")
    examples = []
    for images, labels in data.eval_dataset(source, batch_size=count).take(1):
        for image, label in zip(images.numpy().astype("uint8"), labels.numpy()):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            examples.append((buffer.getvalue(), source.class_names[label]))
    return examples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the model's predict URL, e.g. http://localhost:8501/v1/models/resnet20-digits"
                                    ":predict")
    parser.add_argument("images", nargs="*", help="JPEG or PNG files")
    parser.add_argument("--digits", type=int, help="send this many images of the digits test split instead")
    parser.add_argument("--signature", default="predict_jpeg", choices=("predict_jpeg", "serving_default"))
    parser.add_argument("--top-k", type=int, default=3, help="labels printed per image (default 3)")
    args = parser.parse_args(argv)
    if args.top_k < 1 or (args.digits is not None and args.digits < 1):
        parser.error("--top-k and --digits take positive numbers")
    if args.digits:
        examples = _test_digits(args.digits)
        names = [f"test digit {i} (true label {label})" for i, (_, label) in enumerate(examples)]
        encoded = [image for image, _ in examples]
    elif args.images:
        names = args.images
        encoded = []
        for path in args.images:
            with open(path, "rb") as file:
                encoded.append(file.read())
    else:
        parser.error("give image files or --digits N")
    if args.signature == "predict_jpeg":
        body = jpeg_request(encoded)
    else:
        import io

        body = pixels_request([_read_pixels(io.BytesIO(image)) for image in encoded])
    try:
        answers = top_k(send(args.url, body), args.top_k)
    except (OSError, RuntimeError) as error:
        print(f"client: {error}", file=sys.stderr)
        return 1
    for name, answer in zip(names, answers):
        print(f"{name}: " + ", ".join(f"{label} ({score:.3f})" for label, score in answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
