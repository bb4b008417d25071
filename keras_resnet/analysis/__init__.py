"""The seeds' analyses (TensorFlow-only): degradation of deep plain nets ([He16] Fig. 1, 6), the lesion study
and the path lengths / effective paths of Veit et al. ([Veit16] Fig. 3-6), transfer to new classes and the
measurement of the fine-tuning recipe's settings (``transfer``). Each returns data; ``figures`` plots it.
"""

from keras_resnet.analysis.degradation import run_degradation
from keras_resnet.analysis.figures import plot_degradation, plot_lesion, plot_paths, plot_recipe, plot_transfer
from keras_resnet.analysis.lesion import error_rate, lesion_study
from keras_resnet.analysis.paths import gradient_by_path_length, path_length_counts, path_length_distribution
from keras_resnet.analysis.segments import Network
from keras_resnet.analysis.transfer import best_setting, recipe_sweep, run_transfer

__all__ = ["Network", "best_setting", "error_rate", "gradient_by_path_length", "lesion_study", "path_length_counts",
           "path_length_distribution", "plot_degradation", "plot_lesion", "plot_paths", "plot_recipe", "plot_transfer",
           "recipe_sweep", "run_degradation", "run_transfer"]
