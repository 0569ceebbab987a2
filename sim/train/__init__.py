"""Brief training of the grid's cells (`--train`): the data sets and the training loop."""

from sim.train.data import DATASETS, Dataset, load_dataset
from sim.train.training import TrainConfig, check_trainable, train_cell

__all__ = ["DATASETS", "Dataset", "TrainConfig", "check_trainable", "load_dataset", "train_cell"]
