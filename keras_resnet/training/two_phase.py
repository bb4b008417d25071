"""The two-phase fine-tuning recipe: a new classifier alone on frozen pretrained features, then every layer gently.

``two_phase(config)`` runs both phases as two runs of the trainer (``recipes/finetune.py``, ``analysis/transfer.py``);
``finetune.py`` below it holds what one fine-tuning run needs (the weights file, its normalisation, the new head).
"""

import dataclasses
import os
import warnings

from keras_resnet.training.trainer import Run, default_output_dir
from keras_resnet.support.validation import check_positive_int

from keras_resnet.training.config import FULL_EPOCHS, FULL_LR_FACTOR, HEAD_EPOCHS  # the schedule's defaults
PHASES = ("head", "full")


def two_phase(config, head_epochs=HEAD_EPOCHS, full_lr_factor=FULL_LR_FACTOR, source=None):
    """Fine-tunes ``config.weights`` on ``config.dataset`` in two runs under ``config.output_dir``:

    1. ``head/``: everything but the new classifier frozen (``freeze="all"``), ``head_epochs`` epochs at the
       learning rate of ``config`` (the recipe's 0.1 at batch 128 by default), cosine decay;
    2. ``full/``: every layer trained (``config.freeze``, ``"none"`` by default) from the model of phase 1 (its
       classifier included) for ``config.epochs`` epochs (``FULL_EPOCHS`` if unset) at ``full_lr_factor`` times that
       learning rate, with a linear warm-up over the first tenth and cosine decay.

    A new classifier on pretrained features first learns without disturbing them (its random gradients would
    otherwise flow into the pretrained layers); then the whole network adapts, gently. Each phase is a ``Run`` of
    its own folder, so an interrupted fine-tuning resumes where it stopped. Returns ``{"head": summary, "full":
    summary}``; ``full/model.keras`` is the fine-tuned model.
    """
    if config.weights is None:
        raise ValueError("Fine-tuning starts from pretrained weights: pass --weights (a tag such as imagenet, or an "
                         "earlier run's model.keras).")
    check_positive_int(head_epochs, "--head-epochs")
    if not full_lr_factor > 0:
        raise ValueError(f"--full-lr-factor must be positive, got {full_lr_factor!r}")
    output_dir = config.output_dir or default_output_dir(config.model)
    learning_rate = config.learning_rate or 0.1
    phases = {
        "head": dataclasses.replace(config, output_dir=os.path.join(output_dir, "head"), freeze="all",
                                    epochs=head_epochs, schedule="cosine", warmup=False),
        "full": dataclasses.replace(config, output_dir=os.path.join(output_dir, "full"),
                                    epochs=config.epochs or FULL_EPOCHS, learning_rate=learning_rate * full_lr_factor,
                                    schedule="cosine", warmup=True),
    }
    summaries, previous = {}, None
    for phase in PHASES:
        with Run(phases[phase], source=source) as run:
            source = run.plan.source  # the data is read once
            if run.finished is None:
                model = run.build_model()
                if previous is not None and run.folder.completed_epochs() == 0:
                    with warnings.catch_warnings():  # phase 1's optimizer state is not wanted: a new optimizer
                        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
                        model.load_weights(previous)  # phase 1's network and classifier
                run.fit(model)
                run.finish(model)
            summaries[phase] = run.finished
            previous = run.folder.file("model.keras")
    return summaries
