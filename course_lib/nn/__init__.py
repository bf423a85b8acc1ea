"""The layers students write, laid out and named as in torch.nn."""

from course_lib.nn import init
from course_lib.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from course_lib.nn.container import Residual, Sequential
from course_lib.nn.conv import Conv2d, ConvTranspose2d, Upsample, fold, unfold
from course_lib.nn.linear import Linear
from course_lib.nn.loss import MSELoss
from course_lib.nn.module import Module, Parameter, no_grad

__all__ = [
    "init", "Module", "Parameter", "no_grad",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "unfold", "fold", "Conv2d", "ConvTranspose2d", "Upsample",
    "Linear", "MSELoss", "Sequential", "Residual",
]
