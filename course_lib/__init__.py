"""Backprop by Hand: a deep-learning framework written by hand and checked against PyTorch autograd.

``from course_lib import nn, optim`` gives the layers and optimisers (the exercises);
``course_lib.check`` compares them with torch autograd.
"""

from course_lib import nn, optim

__all__ = ["nn", "optim"]
