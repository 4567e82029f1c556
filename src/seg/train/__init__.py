"""Training and evaluation of the registered models (``seg train``, ``seg eval``)."""

from seg.train.config import TrainConfig
from seg.train.evaluate import evaluate, evaluate_checkpoint
from seg.train.loop import train

__all__ = ["TrainConfig", "train", "evaluate", "evaluate_checkpoint"]
