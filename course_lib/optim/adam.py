"""Adam: adaptive moment estimation (as torch.optim.Adam, without amsgrad)."""

import torch

from course_lib.optim.optimizer import Optimizer, refuse_options


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ...:

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (m and v start at zero)
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)   (undo the pull towards zero)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    torch's signature; amsgrad, maximize, differentiable, fused and decoupled_weight_decay accept only
    their defaults (False, or None for fused); foreach and capturable (implementation choices) any value.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        refuse_options("Adam", amsgrad=amsgrad, maximize=maximize, differentiable=differentiable, fused=fused,
                       decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def step(self):
        """Update every parameter's .data in place from its .grad (shapes: those of the parameters)."""
        ### BEGIN SOLUTION
        beta1, beta2 = self.betas
        for p in self.params:
            grad = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            state = self.state[p]
            if not state:  # the first step: both averages start at zero
                state.update(step=0, exp_avg=torch.zeros_like(p.data), exp_avg_sq=torch.zeros_like(p.data))
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            # m = beta1 * m + (1 - beta1) * g and v = beta2 * v + (1 - beta2) * g**2, in place: each new tensor a
            # formula makes costs about as much as its arithmetic, on the small tensors most parameters are.
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            # p = p - lr * m_hat / (sqrt(v_hat) + eps), with m_hat's division by (1 - beta1**t) in the step size.
            v_hat = v / (1 - beta2**t)
            p.data.addcdiv_(m, v_hat.sqrt_().add_(self.eps), value=-self.lr / (1 - beta1**t))
        ### END SOLUTION
