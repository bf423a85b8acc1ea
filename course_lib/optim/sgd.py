"""SGD: stochastic gradient descent with momentum, dampening, Nesterov and weight decay (as torch.optim.SGD)."""

from course_lib.optim.optimizer import Optimizer, refuse_options


class SGD(Optimizer):
    """For each parameter p with gradient g:

        g = g + weight_decay * p
        b = g on the first step, then b = momentum * b + (1 - dampening) * g   (if momentum != 0)
        g = g + momentum * b if nesterov else b                              (if momentum != 0)
        p = p - lr * g

    torch's signature; maximize, differentiable and fused accept only their defaults (False, False,
    None or False); foreach (an implementation choice) any value.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        refuse_options("SGD", maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def step(self):
        """Update every parameter's .data in place from its .grad (shapes: those of the parameters)."""
        ### BEGIN SOLUTION
        for p in self.params:
            grad = p.grad + self.weight_decay * p.data
            if self.momentum != 0:
                buffer = self.state[p].get("momentum_buffer")
                buffer = grad if buffer is None else self.momentum * buffer + (1 - self.dampening) * grad
                self.state[p]["momentum_buffer"] = buffer
                grad = grad + self.momentum * buffer if self.nesterov else buffer
            p.data -= self.lr * grad
        ### END SOLUTION
