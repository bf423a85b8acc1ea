"""Torch twins of the course's containers: what Sequential and Residual cases are checked against.

A container case describes its modules as small nested lists (plain data, so it can travel to the
grader's child as JSON); ``build`` turns one into the torch module it describes.
"""

import torch


class TorchResidual(torch.nn.Module):
    """The reference of Residual (torch has none): output = input + module(input)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, input):
        return input + self.module(input)


def build(item, built):
    """The torch module an item of a container case describes.

    ["affine", in, out]: an affine map of the last dimension (torch.nn.Linear; the student side uses
        its own, so a container exercise never depends on the student's Linear)
    ["tanh"]: elementwise tanh
    ["residual", item]: Residual around the module ``item`` describes
    ["again", k]: the k-th module of the enclosing list once more (the same instance, shared weights)
    built: the modules built so far in the enclosing list
    """
    kind = item[0]
    if kind == "affine":
        return torch.nn.Linear(item[1], item[2])
    if kind == "tanh":
        return torch.nn.Tanh()
    if kind == "residual":
        return TorchResidual(build(item[1], []))
    if kind == "again":
        return built[item[1]]
    raise ValueError(f"unknown container item {item!r}: expected affine, tanh, residual or again.")


def torch_sequential(modules):
    built = []
    for item in modules:
        built.append(build(item, built))
    return torch.nn.Sequential(*built)


def torch_residual(module):
    return TorchResidual(build(module, []))
