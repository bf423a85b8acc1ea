"""The optimisers students write, named as in torch.optim."""

from course_lib.optim.adam import Adam
from course_lib.optim.optimizer import Optimizer
from course_lib.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam"]
