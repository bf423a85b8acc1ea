"""The student's side of a check: run a student's course_lib on trial data, return its tensors.

This file stands alone: it imports only torch, and reaches course_lib only through the package
object it is given, so the grader can load it in a child process whose ``course_lib`` is the
student's submission. It compares nothing and uses no autograd; the caller compares the tensors it
returns with torch's.

Entry point: ``run(package, exercise_id, spec, tensors) -> {name: tensor}``, where ``spec`` is the
JSON-able half of a trial (kind, target, kwargs, stage, ...) and ``tensors`` the float64 half
(parameters, inputs, grad outputs). The protocols, also used directly on user-built objects:

- ``run_module``: a pass (zero_grad; output = m(input); grad_input = m.backward(grad_output)) with
  output, grad input and every parameter's grad; then, if the trial has ``input_1``, without
  zero_grad, the module used twice (m(input_1), m(input_2), backward(grad_output_2),
  backward(grad_output_1)) with both grad inputs and the accumulated parameter grads. A trial with
  a target is a loss: m(input, target), and the first backward is called without an argument.
- ``run_optimizer``: parameters after each of ``steps`` steps, with given gradients.
- ``run_function``: function(input, **kwargs).
- ``run_init``: the tensor after init(tensor, **kwargs), drawn after torch.manual_seed(seed).
"""

import torch

DTYPE = torch.float64


def run(package, exercise_id, spec, tensors):
    """The tensors the student's code produces for one trial, by name (output names: see module doc)."""
    tensors = {name: tensor.clone() for name, tensor in tensors.items()}
    kwargs = as_tuples(spec["kwargs"])
    target = find(package, spec["target"])
    kind = spec["kind"]
    if kind in ("module", "loss"):
        return run_module(construct(package, target, kwargs), tensors, spec["stage"])
    if kind == "function":
        return run_function(target, kwargs, tensors)
    if kind == "optimizer":
        return run_optimizer(target, package.nn.Parameter, kwargs, tensors, spec["steps"])
    if kind == "init":
        return run_init(target, kwargs, spec["shape"], spec["seed"], spec["fill"])
    raise ValueError(f"{exercise_id}: unknown kind of exercise {kind!r}")


def find(package, path):
    """The object at a dotted path inside the package ("nn.init.zeros_")."""
    found = package
    for name in path.split("."):
        found = getattr(found, name)
    return found


def as_tuples(value):
    """JSON turns tuples into lists; constructors get tuples back, as torch's users pass them."""
    if isinstance(value, list):
        return tuple(as_tuples(item) for item in value)
    if isinstance(value, dict):
        return {name: as_tuples(item) for name, item in value.items()}
    return value


# --- modules -----------------------------------------------------------------------------------------


def construct(package, target, kwargs):
    """The student's module; a container gets the modules its case describes (see ``build``)."""
    if "modules" in kwargs:
        built = []
        for item in kwargs["modules"]:
            built.append(build(package.nn, item, built))
        return target(*built)
    if "module" in kwargs:
        return target(build(package.nn, kwargs["module"], []))
    return target(**kwargs)


def build(nn, item, built):
    """The module an item of a container case describes, made of the checker's own helpers.

    ("affine", in, out), ("tanh",), ("residual", item), ("again", k): as in course_lib.exercises.build.
    The helpers are written here, so that checking Sequential never depends on the student's Linear.
    """
    kind = item[0]
    if kind == "affine":
        return helpers(nn)["affine"](item[1], item[2])
    if kind == "tanh":
        return helpers(nn)["tanh"]()
    if kind == "residual":
        return nn.Residual(build(nn, item[1], []))
    if kind == "again":
        return built[item[1]]
    raise ValueError(f"unknown container item {item!r}")


def helpers(nn):
    """Correct Affine and Tanh modules built on the student's Module class (so containers accept them)."""

    class Affine(nn.Module):
        """output = input @ weight.T + bias over the last dimension, like torch.nn.Linear.

        input: (*, in_features); output: (*, out_features)
        """

        def __init__(self, in_features, out_features):
            self.weight = nn.Parameter(torch.zeros(out_features, in_features, dtype=DTYPE))
            self.bias = nn.Parameter(torch.zeros(out_features, dtype=DTYPE))

        def forward(self, input):
            self.save_for_backward(input)
            return input @ self.weight.data.T + self.bias.data

        def backward(self, grad_output):
            input = self.saved_for_backward()
            grad_rows = grad_output.reshape(-1, grad_output.shape[-1])
            self.weight.grad += grad_rows.T @ input.reshape(-1, input.shape[-1])
            self.bias.grad += grad_rows.sum(dim=0)
            return grad_output @ self.weight.data

    class Tanh(nn.Module):
        """Elementwise tanh; input and output: (*)."""

        def forward(self, input):
            output = torch.tanh(input)
            self.save_for_backward(output)
            return output

        def backward(self, grad_output):
            return grad_output * (1 - self.saved_for_backward() ** 2)

    return {"affine": Affine, "tanh": Tanh}


def run_module(module, tensors, stage):
    """Run the module protocol (see the module doc) and return every tensor it produced.

    module: the student's module, converted here to float64 and given the trial's parameters
    tensors: "param.<name>" for each parameter; "input", "input_1", "input_2" of the input's shape;
        "grad_output", "grad_output_1", "grad_output_2" of the output's shape (0-d for a loss, which
        has no "grad_output": its first backward takes the default); "target", "target_1",
        "target_2" for a loss. Without "input_1", the module is not used twice.
    stage: "forward" stops after the first output; so does a first output that is not a tensor of
        grad_output's shape (backward cannot take grad_output then; the caller says so)
    returns {"output", "grad_input", "<param>.grad", "twice.grad_input_1", "twice.grad_input_2",
        "twice.<param>.grad"}
    """
    module.to(DTYPE)
    module.load_state_dict({name[len("param."):]: value for name, value in tensors.items()
                            if name.startswith("param.")})
    module.zero_grad()
    results = {"output": snapshot(module(*inputs(tensors, "")))}
    if stage == "forward" or not fits(results["output"], tensors.get("grad_output")):
        return results  # backward takes grad_output of the output's shape: a wrong forward stops here
    grad_input = module.backward(tensors["grad_output"]) if "grad_output" in tensors else module.backward()
    results["grad_input"] = snapshot(grad_input)
    results.update(parameter_grads(module, ""))
    if "input_1" not in tensors:
        return results

    module(*inputs(tensors, "_1"))
    module(*inputs(tensors, "_2"))
    results["twice.grad_input_2"] = snapshot(module.backward(tensors["grad_output_2"]))
    results["twice.grad_input_1"] = snapshot(module.backward(tensors["grad_output_1"]))
    results.update(parameter_grads(module, "twice."))
    return results


def fits(output, grad_output):
    """Whether ``output`` is a tensor of grad_output's shape (a loss: one number; it has no grad_output)."""
    if not isinstance(output, torch.Tensor):
        return False
    return output.numel() == 1 if grad_output is None else output.shape == grad_output.shape


def inputs(tensors, suffix):
    target = tensors.get("target" + suffix)
    return (tensors["input" + suffix],) if target is None else (tensors["input" + suffix], target)


def parameter_grads(module, prefix):
    return {f"{prefix}{name}.grad": snapshot(parameter.grad) for name, parameter in module.named_parameters()}


def snapshot(value):
    """A copy of a returned tensor, so later calls cannot change what was recorded; anything else as is."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


# --- functions, optimizers, inits ---------------------------------------------------------------------


def run_function(function, kwargs, tensors):
    """{"output": function(input, **kwargs)}"""
    return {"output": snapshot(function(tensors["input"], **kwargs))}


def run_optimizer(optimizer_class, parameter_class, kwargs, tensors, steps):
    """Parameters after each step, with the gradients given for each step.

    tensors: "param.<i>": the i-th parameter's start value (shape S_i); "grad.<i>": its gradient at
        each step (steps, *S_i)
    returns {"param.<i>": (steps, *S_i), the parameter after each step}
    """
    count = sum(name.startswith("param.") for name in tensors)
    parameters = [parameter_class(tensors[f"param.{index}"].clone()) for index in range(count)]
    optimizer = optimizer_class(parameters, **kwargs)
    trajectories = [[] for _ in parameters]
    for step in range(steps):
        optimizer.zero_grad()
        for index, parameter in enumerate(parameters):
            parameter.grad += tensors[f"grad.{index}"][step]
        optimizer.step()
        for trajectory, parameter in zip(trajectories, parameters):
            trajectory.append(snapshot(parameter.data))
    return {f"param.{index}": torch.stack(trajectory) for index, trajectory in enumerate(trajectories)}


def run_init(function, kwargs, shape, seed, fill):
    """The tensor after the init, and whether the init returned its argument.

    The tensor starts filled with ``fill``, a value no init draws, so values left unfilled show.
    returns {"tensor": shape, "returned_argument": () 1.0 if init returned its argument, else 0.0}
    """
    torch.manual_seed(seed)
    tensor = torch.full(tuple(shape), float(fill), dtype=DTYPE)
    returned = function(tensor, **kwargs)
    return {"tensor": snapshot(tensor), "returned_argument": torch.tensor(float(returned is tensor), dtype=DTYPE)}
