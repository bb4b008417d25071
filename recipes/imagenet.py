"""Train an ImageNet network with the recipe of [He16] Sec. 3.4.

    python recipes/imagenet.py --data-dir ~/data/imagenet            # train/<class>/*.JPEG, val/<class>/*.JPEG
    python recipes/imagenet.py --manual-dir ~/downloads/ilsvrc2012 --data-dir ~/tensorflow_datasets
    python recipes/imagenet.py --model resnet50 --schedule step --ten-crop

Defaults: ResNet-50, batch 256, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 when the validation error
plateaus (``--schedule step``: at 25/50/75 % of the run), 600k iterations; augmentation: shorter side random in
[256, 480], 224 crop, flip, PCA lighting; evaluation: resize 256, centre 224 crop (``--ten-crop``: the 10-crop
test). All local GPUs (MirroredStrategy), or all workers with TF_CONFIG (MultiWorkerMirroredStrategy); ``--strategy
tpu`` for TPUs. Rerun the same command with the same --output-dir to resume.
"""

import sys

from keras_resnet.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(experiment="imagenet_resnet50", description=__doc__))
