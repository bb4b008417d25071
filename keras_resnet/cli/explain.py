"""``keras-resnet explain``: Grad-CAM heat maps of the top-k classes of images, one PNG per class."""

from keras_resnet.support import files
from keras_resnet.cli.common import add_classifier_arguments

HELP = ("Grad-CAM heat maps (last stage) of the top-k classes over an image, one PNG per class the size of the "
        "image")


def add_arguments(parser):
    add_classifier_arguments(parser, "images", "IMAGE", "image files", models="a .keras file (or hf://owner/name)",
                             default_k=3)
    parser.add_argument("--output-dir", required=True, help="where <image file name>.gradcam-<rank>-<class>.png go "
                                                             "(photo.jpg.gradcam-1-tabby.png)")
    parser.add_argument("--overwrite", action="store_true", help="replace the maps of images explained before")


def check(args):
    files.check_writable_folder(args.output_dir)


def run(args):
    from keras_resnet.inference import explain
    from keras_resnet.inference import predict

    explain.check_outputs(args.images, args.output_dir, args.overwrite)
    classifier = predict.load_classifier(args.model, args.weights, args.labels, args.preprocessing)
    for image in args.images:
        explanation = explain.explain_image(classifier, image, args.top_k)
        written = explain.write_overlays(explanation, args.output_dir, args.overwrite)
        for (_, name, score), path in zip(explanation.top, written):
            print(f"{image}: {name} ({score:.3f}) -> {path}")
    return 0
